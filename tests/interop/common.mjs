// Helpers shared by the interop scripts: reading their inputs, rerouting a
// library that hard-codes the real service's host, and reporting.
//
// Every script reads the backend-contract variables the mocks write
// (PUSHPROOF_*) plus a few INTEROP_* inputs from tests/interop.rs, drives
// one library, and prints exactly one JSON line on stdout:
//   {"library": NAME, "version": VERSION, "cases": {CASE: OUTCOME, ...}}
// where each OUTCOME says what the library itself reported (its result
// object or its error type and fields), never what the wire carried.

import { readFileSync } from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';

/** A required environment variable. */
export function env(name) {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(`${name} is not set (tests/interop.rs sets it)`);
  }
  return value;
}

/** The installed version of a package, from its own package.json. */
export function installedVersion(pkg) {
  const url = new URL(`./node_modules/${pkg}/package.json`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')).version;
}

/**
 * An https.Agent that sends every connection to `origin` (the mock), whatever
 * host and port the library asked for. For libraries that hard-code the real
 * service's host (firebase-admin's fcm.googleapis.com and Google's token URL,
 * wns's login.live.com and port 443): they keep sending the real host name
 * in Host, as the mocks allow. The certificate is checked for `localhost`,
 * a name the mocks' certificate covers, against the CA in
 * NODE_EXTRA_CA_CERTS.
 */
export function reroutingAgent(origin) {
  const url = new URL(origin);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port || 443);
  const agent = new https.Agent({ keepAlive: true });
  agent.createConnection = (options) =>
    tls.connect({ ...options, host, port, servername: 'localhost' });
  return agent;
}

/** Prints the report line and exits. */
export function report(library, cases) {
  const line = JSON.stringify({ library, version: installedVersion(library), cases });
  process.stdout.write(`${line}\n`, () => process.exit(0));
}

/** Runs `main`, turning an unexpected failure into a non-zero exit. */
export function run(main) {
  main().catch((error) => {
    process.stderr.write(`${error?.stack ?? error}\n`);
    process.exit(1);
  });
}
