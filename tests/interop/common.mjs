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

/**
 * Resolves `hosts` to the mock inside this process, as a hosts entry would
 * outside it: every TLS connection to one of them on port 443 (https://,
 * HTTP/1.1 or HTTP/2, through any agent, fetch or http2.connect) goes to
 * `mock` (`host:port`), while the library still names the real host in
 * the TLS server name, the certificate check and `:authority`/`Host`. The
 * name is resolved by a `lookup` override; the port is the mock's, since
 * a test binds no fixed port (a real hosts file needs the mock on 443).
 */
export function resolveToMock(hosts, mock) {
  const url = new URL(`https://${mock}`);
  const address = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port || 443);
  const family = address.includes(':') ? 6 : 4;
  const lookup = (_hostname, options, callback) => {
    const cb = typeof options === 'function' ? options : callback;
    if (typeof options === 'object' && options?.all) {
      cb(null, [{ address, family }]);
    } else {
      cb(null, address, family);
    }
  };
  const original = tls.connect;
  tls.connect = function connect(...args) {
    let options;
    if (args[0] !== null && typeof args[0] === 'object') {
      options = { ...args[0] };
      args = args.slice(1);
    } else {
      options = { port: args[0] };
      let rest = args.slice(1);
      if (typeof rest[0] === 'string') {
        options.host = rest[0];
        rest = rest.slice(1);
      }
      if (rest[0] !== null && typeof rest[0] === 'object') {
        options = { ...rest[0], ...options };
        rest = rest.slice(1);
      }
      args = rest;
    }
    const host = options.host ?? options.servername;
    if (hosts.includes(host) && Number(options.port ?? 443) === 443 && !options.socket) {
      options = { ...options, host, servername: options.servername ?? host, port, lookup };
    }
    return original.call(this, options, ...args);
  };
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
