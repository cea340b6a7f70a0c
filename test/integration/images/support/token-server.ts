import { createPrivateKey, randomUUID, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { freePort } from '../../../support/free-port.ts';

export interface TokenRequest {
  scope: string | null;
  service: string | null;
  authorization: string | undefined;
}

export interface RunningTokenServer {
  realm: string;
  certificateFile: string;
  /** Every token request, in order, so a test can check the scope and credentials sent. */
  requests: TokenRequest[];
  stop(): Promise<void>;
}

/**
 * A token server for distribution's `auth: token` mode. It makes an RSA key and a
 * self-signed certificate with openssl, and responds to `GET /token` with an RS256 JWT whose
 * `x5c` header carries the certificate, which the registry checks against its
 * rootcertbundle. It grants every requested action to `username:password` and returns
 * 401 to anyone else.
 */
export async function startTokenServer(workDir: string, options: { issuer: string; username: string; password: string }): Promise<RunningTokenServer> {
  const keyFile = path.join(workDir, 'token-key.pem');
  const certificateFile = path.join(workDir, 'token-cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certificateFile, '-subj', '/CN=slipway-test-token', '-days', '1'], {
    stdio: 'ignore',
  });
  const key = createPrivateKey(await readFile(keyFile));
  const certificate = new X509Certificate(await readFile(certificateFile));
  const expected = `Basic ${Buffer.from(`${options.username}:${options.password}`).toString('base64')}`;

  const requests: TokenRequest[] = [];
  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const entry = { scope: url.searchParams.get('scope'), service: url.searchParams.get('service'), authorization: request.headers.authorization };
    requests.push(entry);
    if (url.pathname !== '/token' || entry.authorization !== expected) {
      response.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"invalid credentials"}');
      return;
    }
    const token = signToken(key, certificate, options.issuer, entry.service ?? '', entry.scope);
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300 }));
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));

  return {
    realm: `http://127.0.0.1:${port}/token`,
    certificateFile,
    requests,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function signToken(key: KeyObject, certificate: X509Certificate, issuer: string, service: string, scope: string | null): string {
  const now = Math.floor(Date.now() / 1000);
  const access = (scope ?? '')
    .split(' ')
    .filter(Boolean)
    .map((item) => {
      const [type, name, actions] = item.split(':');
      return { type, name, actions: (actions ?? '').split(',').filter(Boolean) };
    });
  const header = { alg: 'RS256', typ: 'JWT', x5c: [certificate.raw.toString('base64')] };
  const claims = { iss: issuer, sub: 'tester', aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomUUID(), access };
  const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  const signature = sign('sha256', Buffer.from(signingInput), key);
  return `${signingInput}.${signature.toString('base64url')}`;
}

function base64url(text: string): string {
  return Buffer.from(text).toString('base64url');
}
