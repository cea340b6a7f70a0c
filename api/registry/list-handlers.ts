import type { Context } from 'hono';
import type { Database } from '../../shared/db/database.ts';
import { RegistryError } from './registry-errors.ts';
import { listRepositories, listTags, type Repository } from './repositories.ts';

/** Entries of one page when the client gives no `n`. */
const DEFAULT_PAGE_SIZE = 1000;
const MAX_PAGE_SIZE = 10_000;

export interface Page {
  entries: string[];
  /** The `last` value of the next page, when entries remain after this one. */
  next?: string;
}

/**
 * Cuts a sorted list into the page that `n` and `last` ask for, as the distribution spec
 * paginates tags and repositories: the entries after `last`, at most `n` of them.
 */
export function paginate(sorted: string[], n: string | undefined, last: string | undefined): Page {
  const size = n === undefined ? DEFAULT_PAGE_SIZE : Number(n);
  if (!Number.isSafeInteger(size) || size < 0 || size > MAX_PAGE_SIZE) {
    throw new RegistryError('UNSUPPORTED', `n=${JSON.stringify(n)} is invalid: give a whole number from 0 to ${MAX_PAGE_SIZE}.`, { status: 400, detail: { n } });
  }

  const after = last === undefined ? sorted : sorted.filter((entry) => entry > last);
  const entries = after.slice(0, size);
  const remaining = after.length > entries.length;
  return remaining && entries.length > 0 ? { entries, next: entries[entries.length - 1] } : { entries };
}

/** GET of `/v2/<name>/tags/list`. */
export async function listTagsPage(c: Context, db: Database, repository: Repository): Promise<Response> {
  const page = paginate(await listTags(db, repository), c.req.query('n'), c.req.query('last'));
  if (page.next !== undefined) setNextLink(c, `/v2/${repository.name}/tags/list`, c.req.query('n'), page.next);
  return c.json({ name: repository.name, tags: page.entries });
}

/** GET of `/v2/_catalog`: the apps and the image names of the image store. */
export async function listCatalogPage(c: Context, db: Database, owner: string): Promise<Response> {
  const page = paginate(await listRepositories(db, owner), c.req.query('n'), c.req.query('last'));
  if (page.next !== undefined) setNextLink(c, '/v2/_catalog', c.req.query('n'), page.next);
  return c.json({ repositories: page.entries });
}

function setNextLink(c: Context, pathname: string, n: string | undefined, last: string): void {
  const query = new URLSearchParams();
  if (n !== undefined) query.set('n', n);
  query.set('last', last);
  c.header('Link', `<${pathname}?${query.toString()}>; rel="next"`);
}
