CREATE TABLE "api_tokens" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"token_hash" text NOT NULL,
	"owner" text DEFAULT 'admin' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_used_at" timestamp with time zone,
	CONSTRAINT "api_tokens_token_hash_unique" UNIQUE("token_hash")
);
--> statement-breakpoint
CREATE TABLE "apps" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"owner" text DEFAULT 'admin' NOT NULL,
	"env" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"current_release_id" uuid,
	"min_machines" integer DEFAULT 0 NOT NULL,
	"max_machines" integer DEFAULT 1 NOT NULL,
	"concurrency" integer DEFAULT 80 NOT NULL,
	"idle_timeout_s" integer DEFAULT 300 NOT NULL,
	"health_check" jsonb,
	"published_ports" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"memory_bytes" bigint,
	"cpus" double precision,
	"pids_limit" integer,
	"allow_scale_with_volume" boolean DEFAULT false NOT NULL,
	"parent_app_id" uuid,
	"git_branch" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "apps_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "build_cache_entries" (
	"key" text PRIMARY KEY NOT NULL,
	"layer_digest" text,
	"diff_id" text,
	"layer_size" bigint,
	"media_type" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_used_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "builds" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"app_id" uuid NOT NULL,
	"status" text DEFAULT 'queued' NOT NULL,
	"context_digest" text NOT NULL,
	"context_size" bigint NOT NULL,
	"dockerfile" text DEFAULT 'Dockerfile' NOT NULL,
	"build_args" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"target" text,
	"no_cache" boolean DEFAULT false NOT NULL,
	"git_commit" text,
	"git_ref" text,
	"image_digest" text,
	"error" jsonb,
	"log_digest" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "deploys" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"app_id" uuid NOT NULL,
	"build_id" uuid,
	"release_id" uuid,
	"status" text DEFAULT 'building' NOT NULL,
	"error" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "image_tags" (
	"name" text NOT NULL,
	"tag" text NOT NULL,
	"digest" text NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "image_tags_name_tag_pk" PRIMARY KEY("name","tag")
);
--> statement-breakpoint
CREATE TABLE "machines" (
	"id" text PRIMARY KEY NOT NULL,
	"app_id" uuid NOT NULL,
	"release_id" uuid NOT NULL,
	"runner_id" text NOT NULL,
	"status" text NOT NULL,
	"ip_address" text,
	"port" integer,
	"exit_code" integer,
	"restarts" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "releases" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"app_id" uuid NOT NULL,
	"version" integer NOT NULL,
	"build_id" uuid,
	"image_digest" text NOT NULL,
	"source" text DEFAULT 'build' NOT NULL,
	"env" jsonb NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"error" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "runners" (
	"id" text PRIMARY KEY NOT NULL,
	"last_seen_at" timestamp with time zone DEFAULT now() NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "volumes" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"app_id" uuid NOT NULL,
	"name" text NOT NULL,
	"path" text NOT NULL,
	"runner_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "builds" ADD CONSTRAINT "builds_app_id_apps_id_fk" FOREIGN KEY ("app_id") REFERENCES "public"."apps"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "deploys" ADD CONSTRAINT "deploys_app_id_apps_id_fk" FOREIGN KEY ("app_id") REFERENCES "public"."apps"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "deploys" ADD CONSTRAINT "deploys_build_id_builds_id_fk" FOREIGN KEY ("build_id") REFERENCES "public"."builds"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "machines" ADD CONSTRAINT "machines_app_id_apps_id_fk" FOREIGN KEY ("app_id") REFERENCES "public"."apps"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "releases" ADD CONSTRAINT "releases_app_id_apps_id_fk" FOREIGN KEY ("app_id") REFERENCES "public"."apps"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "volumes" ADD CONSTRAINT "volumes_app_id_apps_id_fk" FOREIGN KEY ("app_id") REFERENCES "public"."apps"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "releases_app_version" ON "releases" USING btree ("app_id","version");--> statement-breakpoint
CREATE UNIQUE INDEX "volumes_app_name" ON "volumes" USING btree ("app_id","name");--> statement-breakpoint
CREATE UNIQUE INDEX "volumes_app_path" ON "volumes" USING btree ("app_id","path");