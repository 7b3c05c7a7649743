#!/usr/bin/env node
// A secure-push backend in the shape of the Azure Notification Hubs "Notify
// Users" + "Secure Push" tutorial, in plain Node.js (20 or later) with no
// dependencies, talking to APNs, FCM HTTP v1 and WNS directly.
//
// The pattern: a sender posts a secret message; the backend stores it and
// pushes only an opaque, random id; the device fetches the content with its
// own credentials. Nothing sensitive ever travels through Apple, Google or
// Microsoft.
//
// The API is the tutorial's (see README.md next to this file), with the
// tutorial's security bugs fixed: 401 (not 500/403) without valid
// credentials, registrations owned by their user, no foreign `username:`
// tags, random 128-bit notification ids instead of a counter, the content
// only for its recipient and the same 404 for "not yours" and "no such id",
// bounded bodies, no stack traces in answers, nothing secret in the logs.
//
// Configuration is the pushproof backend contract, all environment:
//   PUSHPROOF_LISTEN            host:port to listen on (default 127.0.0.1:8080)
//   PUSHPROOF_CA_FILE           if set, trust exactly this CA for the gateways
//   PUSHPROOF_APNS_URL, _KEY_FILE, _KEY_ID, _TEAM_ID, _TOPIC
//   PUSHPROOF_FCM_URL, _PROJECT_ID, _CREDENTIALS (service-account JSON file)
//   PUSHPROOF_WNS_TOKEN_URL, _CLIENT_ID, _CLIENT_SECRET
// A platform with missing variables is switched off (and said so at start);
// a variable that is set but unusable (unreadable key, bad URL) exits 2.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import { URL, URLSearchParams } from 'node:url';

const MAX_BODY = 64 * 1024; // request bodies larger than this get 413
const MAX_GATEWAY_REPLY = 64 * 1024; // a gateway answer is never bigger
const GATEWAY_TIMEOUT_MS = 10_000; // per gateway request, connection included
const APNS_TOKEN_REUSE_S = 50 * 60; // APNs: renew at most every 20, at least every 60 min
const APNS_MIN_RENEW_S = 20 * 60; // younger tokens are never replaced (429 otherwise)
const NOTIFICATION_TTL_MS = 24 * 3600 * 1000; // stored messages expire after a day
const MAX_STORED_PAYLOAD = 64 * 1024 * 1024; // in-memory store: oldest evicted beyond this
const MAX_REGISTRATIONS_PER_USER = 100;
const MAX_TAGS = 60; // Notification Hubs allows 60 tags per registration
const SHUTDOWN_GRACE_MS = 10_000;

const USERNAME = /^[A-Za-z0-9_.@-]{1,64}$/;
const TAG = /^[A-Za-z0-9_@#.:-]{1,120}$/; // Notification Hubs tag alphabet
const ID = /^[0-9a-f]{32}$/; // our registration and notification ids
const APNS_DEVICE_TOKEN = /^[0-9A-Fa-f]{1,400}$/; // goes into a URL path: hex only

// ---------------------------------------------------------------- logging

// One line per event on stderr. Callers pass only fixed words, ids, status
// codes and gateway reason codes: never a message, a header, a handle or a
// user name (with the tutorial's rule a user name is also the password).
function log(line) {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`);
}
// A closed log pipe (EPIPE) must not take the server down with it.
process.stderr.on('error', () => {});

// Text from outside (a gateway's reason code) made safe for one log line.
function printable(text, max = 80) {
  return String(text).replace(/[^\x20-\x7e]/g, '?').slice(0, max);
}

// ---------------------------------------------------------- configuration

class ConfigError extends Error {}

function readConfig(env) {
  const value = (name) => (env[name]?.trim() ? env[name].trim() : undefined);
  const config = { listen: parseListen(value('PUSHPROOF_LISTEN') ?? '127.0.0.1:8080'), off: {} };

  // Read a platform's variables: all present → an object, else the names missing.
  const group = (platform, names) => {
    const missing = names.filter((name) => value(name) === undefined);
    if (missing.length > 0) {
      config.off[platform] = `missing ${missing.join(', ')}`;
      return null;
    }
    return Object.fromEntries(names.map((name) => [name, value(name)]));
  };

  const caFile = value('PUSHPROOF_CA_FILE');
  if (caFile) {
    config.ca = readFile('PUSHPROOF_CA_FILE', caFile, 'utf8');
    if (!config.ca.includes('-----BEGIN CERTIFICATE-----')) {
      throw new ConfigError(`PUSHPROOF_CA_FILE=${caFile}: no PEM certificate in it`);
    }
    config.caFile = caFile;
  }

  const apns = group('apns', ['PUSHPROOF_APNS_URL', 'PUSHPROOF_APNS_KEY_FILE', 'PUSHPROOF_APNS_KEY_ID',
    'PUSHPROOF_APNS_TEAM_ID', 'PUSHPROOF_APNS_TOPIC']);
  if (apns) {
    const keyFile = apns.PUSHPROOF_APNS_KEY_FILE;
    const key = privateKey('PUSHPROOF_APNS_KEY_FILE', readFile('PUSHPROOF_APNS_KEY_FILE', keyFile));
    const details = key.asymmetricKeyDetails ?? {};
    if (key.asymmetricKeyType !== 'ec' || details.namedCurve !== 'prime256v1') {
      throw new ConfigError(`PUSHPROOF_APNS_KEY_FILE=${keyFile}: not a P-256 (ES256) key`);
    }
    const url = gatewayUrl('PUSHPROOF_APNS_URL', apns.PUSHPROOF_APNS_URL);
    config.apns = {
      origin: url.origin,
      pathPrefix: url.pathname.replace(/\/+$/, ''), // usually empty
      key,
      keyId: apns.PUSHPROOF_APNS_KEY_ID,
      teamId: apns.PUSHPROOF_APNS_TEAM_ID,
      topic: apns.PUSHPROOF_APNS_TOPIC,
    };
  }

  const fcm = group('fcm', ['PUSHPROOF_FCM_URL', 'PUSHPROOF_FCM_PROJECT_ID', 'PUSHPROOF_FCM_CREDENTIALS']);
  if (fcm) {
    const file = fcm.PUSHPROOF_FCM_CREDENTIALS;
    let account;
    try {
      account = JSON.parse(readFile('PUSHPROOF_FCM_CREDENTIALS', file, 'utf8'));
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      throw new ConfigError(`PUSHPROOF_FCM_CREDENTIALS=${file}: not JSON`);
    }
    for (const field of ['client_email', 'private_key', 'token_uri']) {
      if (typeof account?.[field] !== 'string' || !account[field]) {
        throw new ConfigError(`PUSHPROOF_FCM_CREDENTIALS=${file}: no "${field}" in the service account`);
      }
    }
    const key = privateKey('PUSHPROOF_FCM_CREDENTIALS', account.private_key);
    if (key.asymmetricKeyType !== 'rsa') {
      throw new ConfigError(`PUSHPROOF_FCM_CREDENTIALS=${file}: private_key is not an RSA (RS256) key`);
    }
    const url = gatewayUrl('PUSHPROOF_FCM_URL', fcm.PUSHPROOF_FCM_URL);
    const project = encodeURIComponent(fcm.PUSHPROOF_FCM_PROJECT_ID);
    config.fcm = {
      sendUrl: `${url.origin}${url.pathname.replace(/\/+$/, '')}/v1/projects/${project}/messages:send`,
      clientEmail: account.client_email,
      keyId: typeof account.private_key_id === 'string' ? account.private_key_id : undefined,
      tokenUri: gatewayUrl(`token_uri in ${file}`, account.token_uri).href,
      key,
    };
  }

  const wns = group('wns', ['PUSHPROOF_WNS_TOKEN_URL', 'PUSHPROOF_WNS_CLIENT_ID', 'PUSHPROOF_WNS_CLIENT_SECRET']);
  if (wns) {
    config.wns = {
      tokenUrl: gatewayUrl('PUSHPROOF_WNS_TOKEN_URL', wns.PUSHPROOF_WNS_TOKEN_URL),
      clientId: wns.PUSHPROOF_WNS_CLIENT_ID,
      clientSecret: wns.PUSHPROOF_WNS_CLIENT_SECRET,
    };
  }
  return config;
}

function parseListen(text) {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) {
    throw new ConfigError(`PUSHPROOF_LISTEN=${text}: expected host:port`);
  }
  return { host: match[1] ?? match[2], port };
}

function readFile(variable, path, encoding) {
  try {
    return fs.readFileSync(path, encoding);
  } catch (error) {
    throw new ConfigError(`${variable}=${path}: cannot read it (${error.code ?? error.message})`);
  }
}

function privateKey(variable, pem) {
  try {
    return crypto.createPrivateKey(pem);
  } catch {
    throw new ConfigError(`${variable}: not a PEM private key`);
  }
}

// An absolute http(s) URL, checked.
function gatewayUrl(variable, text) {
  let url;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`${variable}=${text}: not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${variable}=${text}: not an http:// or https:// URL`);
  }
  return url;
}

// ------------------------------------------------------------ small parts

const randomId = () => crypto.randomBytes(16).toString('hex'); // 128 bits, CSPRNG

const base64url = (data) => Buffer.from(data).toString('base64url');

// A compact JWS. ES256 signatures must be the raw r||s pair (IEEE P1363),
// not the DER that node:crypto produces by default.
function signJwt(header, claims, key) {
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  const options = header.alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key;
  return `${input}.${base64url(crypto.sign('sha256', Buffer.from(input), options))}`;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

// What one push did: delivered, gone (the device address is dead: forget
// it) or failed (anything else; the reason is a short code for the log).
const delivered = { kind: 'delivered' };
const gone = (status, reason) => ({ kind: 'gone', status, reason });
const failed = (reason, status) => ({ kind: 'failed', status, reason });

// One HTTP/1.1 exchange with a gateway or token endpoint, with a deadline
// and a cap on the answer. Keep-alive agents reuse connections; with
// PUSHPROOF_CA_FILE the HTTPS agent trusts exactly that CA (Node's `ca`
// option replaces the default roots, it does not add to them).
function makeAgents(ca) {
  return {
    'http:': new http.Agent({ keepAlive: true, maxSockets: 64 }),
    'https:': new https.Agent({ keepAlive: true, maxSockets: 64, ca }),
  };
}

function gatewayRequest(agents, url, { headers, body }) {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const client = target.protocol === 'https:' ? https : http;
    const request = client.request(target, {
      method: 'POST',
      // An explicit length: WNS refuses chunked bodies.
      headers: { ...headers, 'content-length': body.length },
      agent: agents[target.protocol],
      signal: AbortSignal.timeout(GATEWAY_TIMEOUT_MS),
    }, (response) => {
      const chunks = [];
      let size = 0;
      response.on('data', (chunk) => {
        size += chunk.length;
        if (size > MAX_GATEWAY_REPLY) request.destroy(new Error('answer too large'));
        else chunks.push(chunk);
      });
      response.on('end', () => {
        resolve({ status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks) });
      });
      response.on('error', reject);
      response.on('close', () => reject(new Error('connection closed mid-answer')));
    });
    request.on('error', reject);
    request.end(body);
  });
}

// A short, loggable name for a transport error. The only abort signal used
// here is the gateway deadline, so an abort is a timeout.
const errorCode = (error) => (error?.name === 'AbortError' || error?.name === 'TimeoutError'
  ? 'timeout'
  : printable(error?.code ?? error?.message ?? 'error'));

// An OAuth access token, fetched once and shared by all pushes until shortly
// before it expires. Concurrent pushes that find it stale wait for one fetch
// instead of each asking the token endpoint.
class TokenCache {
  #fetch;
  #token = null;
  #refreshAt = 0;
  #pending = null;

  constructor(fetch) {
    this.#fetch = fetch; // () => Promise<{ token, lifetimeMs }>
  }

  async get() {
    if (this.#token && Date.now() < this.#refreshAt) return this.#token;
    this.#pending ??= this.#fetch()
      .then(({ token, lifetimeMs }) => {
        this.#token = token;
        // Renew a minute early, or at half life for short-lived tokens.
        this.#refreshAt = Date.now() + lifetimeMs - Math.min(60_000, lifetimeMs / 2);
        return token;
      })
      .finally(() => { this.#pending = null; });
    return this.#pending;
  }

  // The gateway refused `stale` (401): forget it, unless a newer one already replaced it.
  invalidate(stale) {
    if (this.#token === stale) this.#token = null;
  }
}

// Sends with the cached access token; after a 401 (a token revoked or
// expired early) fetches a new one and tries once more.
async function withAccessToken(tokens, send) {
  const token = await tokens.get();
  const reply = await send(token);
  if (reply.status !== 401) return reply;
  tokens.invalidate(token);
  return send(await tokens.get());
}

// POSTs an OAuth2 form and reads `access_token` and `expires_in` (a number,
// or a string as Azure AD sends it).
async function fetchAccessToken(agents, url, form) {
  const reply = await gatewayRequest(agents, url, {
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: Buffer.from(new URLSearchParams(form).toString()),
  });
  let answer;
  try {
    answer = JSON.parse(reply.body.toString('utf8'));
  } catch {
    answer = {};
  }
  if (reply.status !== 200 || typeof answer.access_token !== 'string' || !answer.access_token) {
    // OAuth error codes (invalid_client, …) are safe to log; descriptions may not be.
    throw new Error(`token endpoint answered ${reply.status} ${printable(answer.error ?? '')}`.trim());
  }
  const seconds = Number(answer.expires_in);
  const lifetime = Number.isFinite(seconds) && seconds > 0 ? seconds : 3600; // absent: assume an hour
  return { token: answer.access_token, lifetimeMs: lifetime * 1000 };
}

// ------------------------------------------------------------------ APNs

// APNs provider API: HTTP/2 (h2c for a plaintext test gateway), one long-
// lived connection, ES256 provider token reused for 50 minutes. A token per
// push is the classic bug: APNs answers 429 TooManyProviderTokenUpdates.
// Node's HTTP/2 client holds requests back by itself while APNs allows
// fewer concurrent streams (it starts at 1 and drops back to 1 after errors).
class Apns {
  #config;
  #ca;
  #session = null;
  #jwt = null;
  #issuedAt = 0;

  constructor(config, ca) {
    this.#config = config;
    this.#ca = ca;
  }

  #providerToken() {
    const now = nowSeconds();
    if (!this.#jwt || now - this.#issuedAt >= APNS_TOKEN_REUSE_S || now < this.#issuedAt) {
      const { key, keyId, teamId } = this.#config;
      this.#jwt = signJwt({ alg: 'ES256', kid: keyId }, { iss: teamId, iat: now }, key);
      this.#issuedAt = now;
    }
    return this.#jwt;
  }

  #connection() {
    const current = this.#session;
    if (current && !current.closed && !current.destroyed) return current;
    const session = http2.connect(this.#config.origin, { ca: this.#ca });
    const forget = () => { if (this.#session === session) this.#session = null; };
    session.on('error', (error) => { forget(); log(`apns connection error ${errorCode(error)}`); });
    session.on('goaway', forget); // APNs says goodbye: the next push opens a new one
    session.on('close', forget);
    this.#session = session;
    return session;
  }

  // One POST on the shared connection → { status, body }.
  #post(path, headers, body) {
    return new Promise((resolve, reject) => {
      const stream = this.#connection().request({ ':method': 'POST', ':path': path, ...headers });
      let status = 0;
      let size = 0;
      const chunks = [];
      stream.setTimeout(GATEWAY_TIMEOUT_MS, () => stream.close(http2.constants.NGHTTP2_CANCEL));
      stream.on('response', (h) => { status = h[':status']; });
      stream.on('data', (chunk) => {
        size += chunk.length;
        if (size <= MAX_GATEWAY_REPLY) chunks.push(chunk);
      });
      stream.on('error', reject);
      stream.on('close', () => {
        if (status) resolve({ status, body: Buffer.concat(chunks) });
        else reject(Object.assign(new Error('stream closed'), { rstCode: stream.rstCode }));
      });
      stream.end(body);
    });
  }

  async send(handle, id) {
    if (!APNS_DEVICE_TOKEN.test(handle)) return failed('not a hex device token');
    // The tutorial's Secure Push shape: a silent background push with the id only.
    const body = Buffer.from(JSON.stringify({ aps: { 'content-available': 1 }, secureId: id }));
    for (let attempt = 0; ; attempt += 1) {
      const jwt = this.#providerToken();
      let reply;
      try {
        reply = await this.#post(`${this.#config.pathPrefix}/3/device/${handle}`, {
          authorization: `bearer ${jwt}`,
          'apns-topic': this.#config.topic,
          'apns-push-type': 'background',
          'apns-priority': '5', // background pushes must use 5
          'content-type': 'application/json',
        }, body);
      } catch (error) {
        // A stream APNs refused, or a connection that was closing, never
        // reached APNs's queue: safe to try once more on a new connection.
        const unsent = error.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM
          || ['ERR_HTTP2_GOAWAY_SESSION', 'ERR_HTTP2_INVALID_SESSION'].includes(error.code);
        if (unsent && attempt === 0) continue;
        return failed(errorCode(error.cause ?? error)); // cause: the connection's own error
      }
      if (reply.status === 200) return delivered;
      let reason = '';
      try {
        reason = String(JSON.parse(reply.body.toString('utf8')).reason ?? '');
      } catch { /* no JSON body */ }
      if (reply.status === 410) return gone(410, reason || 'Unregistered');
      // Our clock and APNs's disagree: sign a new token and retry, but
      // never renew a young one (that earns TooManyProviderTokenUpdates).
      const renewable = nowSeconds() - this.#issuedAt >= APNS_MIN_RENEW_S;
      if (reply.status === 403 && reason === 'ExpiredProviderToken' && renewable && this.#jwt === jwt) {
        this.#jwt = null;
        if (attempt === 0) continue;
      }
      return failed(reason || 'rejected', reply.status);
    }
  }

  close() {
    this.#session?.close();
  }
}

// ------------------------------------------------------------------- FCM

// FCM HTTP v1: an RS256 JWT-bearer assertion exchanged at the service
// account's token_uri for an access token (cached), then one data-only
// message per device.
class Fcm {
  #config;
  #agents;
  #tokens;

  constructor(config, agents) {
    this.#config = config;
    this.#agents = agents;
    this.#tokens = new TokenCache(() => {
      const now = nowSeconds();
      const header = { alg: 'RS256', typ: 'JWT', ...(config.keyId ? { kid: config.keyId } : {}) };
      const assertion = signJwt(header, {
        iss: config.clientEmail,
        scope: 'https://www.googleapis.com/auth/firebase.messaging',
        aud: config.tokenUri,
        iat: now,
        exp: now + 3600,
      }, config.key);
      return fetchAccessToken(agents, config.tokenUri, {
        grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
        assertion,
      });
    });
  }

  async send(handle, id) {
    // Data only, so the app decides what to show; HIGH because the app
    // fetches and shows a notification at once (Android delays NORMAL
    // data messages while the device dozes).
    const body = Buffer.from(JSON.stringify({
      message: { token: handle, data: { secureId: id }, android: { priority: 'HIGH' } },
    }));
    let reply;
    try {
      reply = await withAccessToken(this.#tokens, (token) => gatewayRequest(this.#agents, this.#config.sendUrl, {
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json; charset=utf-8' },
        body,
      }));
    } catch (error) {
      return failed(errorCode(error));
    }
    if (reply.status === 200) return delivered;
    // google.rpc.Status: the FCM code is in error.details[].errorCode.
    let error = {};
    try {
      error = JSON.parse(reply.body.toString('utf8')).error ?? {};
    } catch { /* an HTML error page */ }
    const code = (Array.isArray(error.details) ? error.details : []).find((d) => d?.errorCode)?.errorCode;
    if (reply.status === 404 && code === 'UNREGISTERED') return gone(404, code);
    return failed(printable(code ?? error.status ?? 'rejected'), reply.status);
  }
}

// ------------------------------------------------------------------- WNS

// WNS: an OAuth client-credentials token (cached), then a raw push POSTed
// straight to the device's channel URI.
class Wns {
  #config;
  #agents;
  #tokens;

  constructor(config, agents) {
    this.#config = config;
    this.#agents = agents;
    this.#tokens = new TokenCache(() => fetchAccessToken(agents, config.tokenUrl.href, {
      grant_type: 'client_credentials',
      client_id: config.clientId,
      client_secret: config.clientSecret,
      scope: 'notify.windows.com',
    }));
  }

  async send(handle, id) {
    // Checked at registration too, but a stored handle is checked again
    // right before the access token is sent to it.
    if (!wnsChannelAllowed(handle, this.#config)) return failed('channel URI host is not WNS');
    let reply;
    try {
      // WNS tokens last a day; a 401 means get a new one (withAccessToken).
      reply = await withAccessToken(this.#tokens, (token) => gatewayRequest(this.#agents, handle, {
        headers: {
          authorization: `Bearer ${token}`,
          'x-wns-type': 'wns/raw',
          'content-type': 'application/octet-stream',
        },
        body: Buffer.from(id), // the raw body is the id and nothing else
      }));
    } catch (error) {
      return failed(errorCode(error));
    }
    if (reply.status === 200) return delivered;
    const headers = reply.headers;
    const reason = printable(headers['x-wns-error-description'] ?? headers['x-wns-status'] ?? 'rejected');
    if (reply.status === 404 || reply.status === 410) return gone(reply.status, reason);
    return failed(reason, reply.status);
  }
}

// The backend sends its WNS access token to whatever URI a device
// registered, so only real WNS channel hosts (https://*.notify.windows.com)
// are accepted, or, for a test gateway, the host of the token endpoint
// (loopback names count as one host).
function wnsChannelAllowed(handle, wnsConfig) {
  let url;
  try {
    url = new URL(handle);
  } catch {
    return false;
  }
  const host = url.hostname.toLowerCase();
  if (url.username || url.password) return false;
  if (url.protocol === 'https:' && host.endsWith('.notify.windows.com')) return true;
  if (!wnsConfig) return false;
  const tokenUrl = wnsConfig.tokenUrl;
  const loopback = (h) => ['localhost', '127.0.0.1', '[::1]'].includes(h);
  const tokenHost = tokenUrl.hostname.toLowerCase();
  return url.protocol === tokenUrl.protocol
    && (host === tokenHost || (loopback(host) && loopback(tokenHost)));
}

// --------------------------------------------------------------- pushers

const PLATFORMS = ['apns', 'fcm', 'wns'];

// The tutorial's `pns` names; "gcm" is what the older tutorial calls FCM.
function parsePlatform(text) {
  const name = String(text).toLowerCase();
  if (name === 'gcm') return 'fcm';
  return PLATFORMS.includes(name) ? name : null;
}

function makePushers(config) {
  const agents = makeAgents(config.ca);
  const clients = {
    apns: config.apns ? new Apns(config.apns, config.ca) : null,
    fcm: config.fcm ? new Fcm(config.fcm, agents) : null,
    wns: config.wns ? new Wns(config.wns, agents) : null,
  };
  return {
    enabled: (platform) => clients[platform] !== null,
    async push(platform, handle, id) {
      const client = clients[platform];
      if (!client) return failed(`${platform} is not configured`);
      try {
        return await client.send(handle, id);
      } catch (error) {
        log(`bug: ${platform} push threw ${error?.stack ?? error}`);
        return failed('internal error');
      }
    },
    close() {
      clients.apns?.close();
      for (const agent of Object.values(agents)) agent.destroy();
    },
  };
}

// ----------------------------------------------------------------- store

// In memory, as the tutorial's is. Every method is async and takes only
// plain values, so a database can take its place without touching the
// handlers. Registrations go to their owner: the backend adds the tag
// `username:<owner>` and refuses it to anyone else, so "the owner's
// registrations" is exactly what a hub would find for that tag.
function createMemoryStore() {
  const registrations = new Map(); // id → { id, owner, platform, handle, tags }
  const byOwner = new Map(); // owner → Set of registration ids
  const byHandle = new Map(); // handle → Set of registration ids
  // id → { id, recipient, sender, payload, expiresAt, read }; `sender` is
  // kept for an audit trail and never shown to the recipient.
  const notifications = new Map();
  let storedBytes = 0;

  const index = (map, key, id) => {
    if (!map.has(key)) map.set(key, new Set());
    map.get(key).add(id);
  };
  const unindex = (map, key, id) => {
    map.get(key)?.delete(id);
    if (map.get(key)?.size === 0) map.delete(key);
  };
  const removeRegistration = (registration) => {
    registrations.delete(registration.id);
    unindex(byOwner, registration.owner, registration.id);
    if (registration.handle !== null) unindex(byHandle, registration.handle, registration.id);
  };
  const removeNotification = (notification) => {
    notifications.delete(notification.id);
    storedBytes -= Buffer.byteLength(notification.payload);
  };

  return {
    // A new, empty registration; null when the owner has too many.
    async createRegistration(owner) {
      if ((byOwner.get(owner)?.size ?? 0) >= MAX_REGISTRATIONS_PER_USER) return null;
      const id = randomId();
      registrations.set(id, { id, owner, platform: null, handle: null, tags: [] });
      index(byOwner, owner, id);
      return id;
    },

    // The tutorial's clean-up for a device that registers again: keep the
    // first registration of this handle, delete the stale rest, return the
    // kept id (or null). Only the caller's own: another user's registration
    // is neither handed out nor touched.
    async ownRegistrationWithHandle(owner, handle) {
      let kept = null;
      for (const id of [...(byHandle.get(handle) ?? [])]) {
        const registration = registrations.get(id);
        if (registration.owner !== owner) continue;
        if (kept === null) kept = id;
        else removeRegistration(registration);
      }
      return kept;
    },

    // → 'updated', 'not-found' (unknown or someone else's: the same answer),
    // or 'handle-taken' (another user's registration has this handle).
    async updateRegistration(id, owner, { platform, handle, tags }) {
      const registration = registrations.get(id);
      if (!registration || registration.owner !== owner) return 'not-found';
      const holders = [...(byHandle.get(handle) ?? [])].map((other) => registrations.get(other));
      if (holders.some((other) => other.owner !== owner)) return 'handle-taken';
      // One registration per device and user: older ones for the handle go.
      for (const other of holders) if (other.id !== id) removeRegistration(other);
      if (registration.handle !== null) unindex(byHandle, registration.handle, id);
      Object.assign(registration, { platform, handle, tags });
      index(byHandle, handle, id);
      return 'updated';
    },

    async deleteRegistration(id, owner) {
      const registration = registrations.get(id);
      if (!registration || registration.owner !== owner) return false;
      removeRegistration(registration);
      return true;
    },

    // The owner's complete registrations, of one platform or (null) all.
    async registrationsOf(owner, platform) {
      return [...(byOwner.get(owner) ?? [])]
        .map((id) => registrations.get(id))
        .filter((r) => r.handle !== null && (platform === null || r.platform === platform))
        .map(({ id, platform: p, handle }) => ({ id, platform: p, handle }));
    },

    // A gateway said this address is dead; unless the device re-registered
    // with a new handle meanwhile, forget the registration.
    async removeDeadRegistration(id, handle) {
      const registration = registrations.get(id);
      if (registration && registration.handle === handle) removeRegistration(registration);
    },

    async createNotification({ recipient, sender, payload }) {
      const id = randomId();
      const expiresAt = Date.now() + NOTIFICATION_TTL_MS;
      notifications.set(id, { id, recipient, sender, payload, expiresAt, read: false });
      storedBytes += Buffer.byteLength(payload);
      // Maps keep insertion order: the first entries are the oldest.
      for (const oldest of notifications.values()) {
        if (storedBytes <= MAX_STORED_PAYLOAD) break;
        removeNotification(oldest);
      }
      return id;
    },

    // The notification as its recipient sees it; null for anyone else, an
    // unknown id or an expired one. `Read` says whether it was fetched before.
    async readNotification(id, recipient) {
      const notification = notifications.get(id);
      if (!notification || notification.recipient !== recipient) return null;
      if (notification.expiresAt <= Date.now()) {
        removeNotification(notification);
        return null;
      }
      const answer = { Id: notification.id, Payload: notification.payload, Read: notification.read };
      notification.read = true;
      return answer;
    },

    async sweep() {
      const now = Date.now();
      for (const notification of notifications.values()) {
        if (notification.expiresAt > now) break; // the rest are younger
        removeNotification(notification);
      }
    },
  };
}

// ------------------------------------------------------------------ auth

// The tutorial's rule: any user whose password equals the user name. It is
// NOT authentication, and it is kept only because the tutorial API profile
// expects it. Replace this function with a real check (a password hash, a
// session or an OAuth token) before using this code for anything.
function authenticate(request) {
  // Node keeps the first of repeated Authorization headers; refuse the
  // ambiguity instead.
  const headers = request.headersDistinct.authorization ?? [];
  if (headers.length !== 1) return null;
  const match = /^basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(headers[0]);
  if (!match) return null;
  let decoded;
  try {
    decoded = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(match[1], 'base64'));
  } catch {
    return null;
  }
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  const user = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  if (!USERNAME.test(user)) return null;
  // Compare digests in constant time, as a real password check must.
  const digest = (text) => crypto.createHash('sha256').update(text).digest();
  return crypto.timingSafeEqual(digest(user), digest(password)) ? user : null;
}

// --------------------------------------------------------------- the API

// An error answer: status, a fixed public message, optional headers.
class HttpError extends Error {
  constructor(status, message, headers = {}) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

const notFound = () => new HttpError(404, 'not found'); // one answer for every kind of "no"
const unauthorized = () => new HttpError(401, 'unauthorized', {
  'www-authenticate': 'Basic realm="tutorial", charset="UTF-8"',
});

// Every answer is per-user data: never cached, never sniffed.
function reply(response, status, value, headers = {}) {
  const body = value === undefined ? '' : JSON.stringify(value);
  response.writeHead(status, {
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...(body ? { 'content-type': 'application/json; charset=utf-8' } : {}),
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  response.end(body);
}

// Reads a JSON body of at most MAX_BODY bytes. Past the limit the rest is
// discarded unread and the connection closed after the 413.
function readJson(request) {
  const type = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/json') {
    return Promise.reject(new HttpError(415, 'Content-Type must be application/json'));
  }
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    request.on('data', (chunk) => {
      if (size > MAX_BODY) return;
      size += chunk.length;
      if (size > MAX_BODY) reject(new HttpError(413, 'request body too large', { connection: 'close' }));
      else chunks.push(chunk);
    });
    request.on('error', () => reject(new HttpError(400, 'could not read the request body')));
    request.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        // Never echo the parser's message: it quotes the input.
        reject(new HttpError(400, 'malformed JSON body'));
      }
    });
  });
}

// A query string in which every parameter appears at most once.
function parseQuery(text) {
  const params = new URLSearchParams(text);
  const seen = new Set();
  for (const key of params.keys()) {
    if (seen.has(key)) throw new HttpError(400, `repeated query parameter ${printable(key, 32)}`);
    seen.add(key);
  }
  return params;
}

// A field of a JSON object, by name in any letter case (ASP.NET's model
// binding, which the tutorial's clients rely on, ignores case).
function field(object, name) {
  const keys = Object.keys(object).filter((key) => key.toLowerCase() === name.toLowerCase());
  if (keys.length > 1) throw new HttpError(400, `${name} is given twice`);
  return keys.length ? object[keys[0]] : undefined;
}

// No platform's device address is empty, huge, or has spaces or controls.
const plausibleHandle = (handle) => typeof handle === 'string' && /^[\x21-\x7e\x80-\uffff]{1,4096}$/.test(handle);

function validHandle(platform, handle, config) {
  if (!plausibleHandle(handle)) return false;
  if (platform === 'apns') return APNS_DEVICE_TOKEN.test(handle);
  if (platform === 'wns') return wnsChannelAllowed(handle, config.wns);
  return true; // FCM tokens are opaque
}

function makeApi({ store, pushers, config }) {
  // POST /api/register?handle=H → a registration id, as a JSON string: the
  // caller's existing one for this device handle, or a new one.
  async function createRegistration(request, response, { user, query }) {
    const handle = query.get('handle');
    if (handle !== null && !plausibleHandle(handle)) throw new HttpError(400, 'bad handle');
    const id = (handle !== null && await store.ownRegistrationWithHandle(user, handle))
      || await store.createRegistration(user);
    if (!id) throw new HttpError(409, 'too many registrations: delete some first');
    reply(response, 200, id);
  }

  // PUT /api/register/{id} {"Platform","Handle","Tags"} → 200.
  async function updateRegistration(request, response, { user, id }) {
    const body = await readJson(request);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new HttpError(400, 'the body must be a JSON object');
    }
    const platform = parsePlatform(field(body, 'Platform') ?? '');
    if (!platform) throw new HttpError(400, 'Platform must be apns, fcm (or gcm) or wns');
    const handle = field(body, 'Handle');
    if (!validHandle(platform, handle, config)) {
      throw new HttpError(400, 'Handle is not a valid address for this platform');
    }
    const clientTags = field(body, 'Tags') ?? []; // the tutorial crashes on null; an absent list is empty
    const wellFormed = (tag) => typeof tag === 'string' && TAG.test(tag);
    if (!Array.isArray(clientTags) || clientTags.length > MAX_TAGS || !clientTags.every(wellFormed)) {
      throw new HttpError(400, `Tags must be at most ${MAX_TAGS} tags of 1-120 of A-Z a-z 0-9 _ @ # . : -`);
    }
    // The tutorial trusts client tags: tagging yourself `username:victim`
    // would route the victim's pushes to your device. Only the backend
    // assigns `username:` tags, and only the caller's own.
    const own = `username:${user}`;
    if (clientTags.some((tag) => tag.toLowerCase().startsWith('username:') && tag !== own)) {
      throw new HttpError(403, 'username: tags are reserved to their user');
    }
    const tags = [...new Set([own, ...clientTags])];
    const result = ID.test(id)
      ? await store.updateRegistration(id, user, { platform, handle, tags })
      : 'not-found';
    if (result === 'not-found') throw notFound();
    if (result === 'handle-taken') throw new HttpError(409, 'this handle is registered by another user');
    reply(response, 200);
  }

  // DELETE /api/register/{id} → 200, for its owner only.
  async function deleteRegistration(request, response, { user, id }) {
    if (!ID.test(id) || !(await store.deleteRegistration(id, user))) throw notFound();
    reply(response, 200);
  }

  // POST /api/notifications?pns=…&to_tag=USER, body: the message as a JSON
  // string. Stores it and pushes only its id to the user's devices.
  async function sendNotification(request, response, { user, query }) {
    const recipient = query.get('to_tag');
    if (recipient === null || !USERNAME.test(recipient)) throw new HttpError(400, 'to_tag must be a user name');
    const pns = query.get('pns');
    const platform = pns === null ? null : parsePlatform(pns); // no pns: every platform
    if (pns !== null && !platform) throw new HttpError(400, 'pns must be apns, fcm (or gcm) or wns');
    const message = await readJson(request);
    if (typeof message !== 'string') throw new HttpError(400, 'the body must be the message as a JSON string');
    if (platform && !pushers.enabled(platform)) {
      throw new HttpError(503, `${platform} is not configured on this backend`);
    }

    const targets = await store.registrationsOf(recipient, platform);
    if (targets.length === 0) {
      // No device to tell: nothing is stored that no one could fetch.
      response.logNote = 'pushed=0 failed=0';
      return reply(response, 200);
    }
    const id = await store.createNotification({ recipient, sender: user, payload: message });
    const outcomes = await Promise.all(targets.map((target) => pushers.push(target.platform, target.handle, id)));
    let pushed = 0;
    for (const [i, outcome] of outcomes.entries()) {
      const target = targets[i];
      if (outcome.kind === 'delivered') {
        pushed += 1;
        continue;
      }
      const { kind, status, reason } = outcome;
      log(`push ${target.platform} registration=${target.id} ${kind} ${status ?? '-'} ${reason}`);
      if (outcome.kind === 'gone') await store.removeDeadRegistration(target.id, target.handle);
    }
    const failures = outcomes.filter((o) => o.kind === 'failed').length;
    response.logNote = `pushed=${pushed} failed=${targets.length - pushed}`;
    // As the tutorial answers 500 when the hub abandons a send: if no
    // gateway took it (and not because every device is gone), say so.
    if (pushed === 0 && failures > 0) throw new HttpError(502, 'no push could be delivered');
    reply(response, 200);
  }

  // GET /api/notifications/{id} → {"Id","Payload","Read"}, to its recipient only.
  async function fetchNotification(request, response, { user, id }) {
    const notification = ID.test(id) ? await store.readNotification(id, user) : null;
    if (!notification) throw notFound(); // not yours and no such id: identical
    reply(response, 200, notification);
  }

  // [method, pattern, handler]; `{id}` matches one path segment.
  const routes = [
    ['POST', '/api/register', createRegistration],
    ['PUT', '/api/register/{id}', updateRegistration],
    ['DELETE', '/api/register/{id}', deleteRegistration],
    ['POST', '/api/notifications', sendNotification],
    ['GET', '/api/notifications/{id}', fetchNotification],
  ];

  // The routes whose pattern matches a raw path, whatever their method. The
  // path is not decoded or normalised, so `/api/notifications/%2e%2e/x` is
  // just an unknown path.
  function match(path) {
    const segments = path.split('/');
    const found = [];
    for (const [method, pattern, handler] of routes) {
      const parts = pattern.split('/');
      if (parts.length !== segments.length) continue;
      const at = parts.indexOf('{id}');
      const same = parts.every((part, i) => (i === at ? segments[i] !== '' : part === segments[i]));
      if (same) found.push({ method, pattern, handler, id: at < 0 ? null : segments[at] });
    }
    return found;
  }

  return async function handle(request, response) {
    const target = request.url ?? '';
    if (!target.startsWith('/')) throw new HttpError(400, 'bad request target');
    const queryAt = target.indexOf('?');
    const path = queryAt < 0 ? target : target.slice(0, queryAt);
    const candidates = match(path);
    if (candidates.length === 0) throw notFound();
    response.logRoute = candidates[0].pattern;
    const route = candidates.find((c) => c.method === request.method);
    if (!route) {
      throw new HttpError(405, 'method not allowed', { allow: candidates.map((c) => c.method).join(', ') });
    }
    // Only ids of our own shape reach the log, never arbitrary client text.
    if (ID.test(route.id ?? '')) response.logRoute = route.pattern.replace('{id}', route.id);
    const declared = Number(request.headers['content-length'] ?? 0);
    if (declared > MAX_BODY) throw new HttpError(413, 'request body too large', { connection: 'close' });
    const user = authenticate(request);
    if (!user) throw unauthorized();
    const query = parseQuery(queryAt < 0 ? '' : target.slice(queryAt + 1));
    await route.handler(request, response, { user, id: route.id, query });
  };
}

// ---------------------------------------------------------------- server

function main() {
  let config;
  try {
    config = readConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`tutorial.mjs: ${error.message}\n`);
    process.exit(2);
  }

  const store = createMemoryStore();
  const pushers = makePushers(config);
  const handle = makeApi({ store, pushers, config });
  let shuttingDown = false;

  // Slow clients get 10 s for their headers and 30 s for the whole request.
  // Idle keep-alive connections stay open for 65 s rather than Node's 5 s:
  // pooling clients (and load balancers) keep theirs longer, and a request
  // sent just as the server closes its side would fail.
  const options = { headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 65_000 };
  const server = http.createServer(options, (request, response) => {
    const started = process.hrtime.bigint();
    response.on('close', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const note = response.logNote ? ` ${response.logNote}` : '';
      const status = response.writableFinished ? response.statusCode : 'aborted';
      log(`${printable(request.method, 10)} ${response.logRoute ?? '-'} ${status} ${ms.toFixed(1)}ms${note}`);
      // A keep-alive connection whose request began before the shutdown
      // goes idle now: close it so that the server can stop.
      if (shuttingDown) setImmediate(() => server.closeIdleConnections());
    });
    // While shutting down, every answer closes its connection.
    if (shuttingDown) response.setHeader('connection', 'close');
    handle(request, response).catch((error) => {
      if (!(error instanceof HttpError)) {
        log(`bug: ${error?.stack ?? error}`);
        error = new HttpError(500, 'internal error');
      }
      if (response.headersSent) response.destroy();
      else reply(response, error.status, { error: error.message }, error.headers);
    });
  });

  // Requests Node refuses (a bad request line, huge headers, too slow) get
  // a bare 400, 431 or 408.
  server.on('clientError', (error, socket) => {
    if (!socket.writable || socket.writableEnded) {
      socket.destroy(); // the client is gone (a reset, a timeout)
      return;
    }
    const status = {
      HPE_HEADER_OVERFLOW: '431 Request Header Fields Too Large',
      ERR_HTTP_REQUEST_TIMEOUT: '408 Request Timeout', // headers or body too slow
    }[error.code] ?? '400 Bad Request';
    log(`- (refused by the HTTP parser: ${printable(error.code ?? 'error', 40)}) ${status.slice(0, 3)}`);
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });

  server.on('error', (error) => {
    const { host, port } = config.listen;
    process.stderr.write(`tutorial.mjs: cannot listen on ${host}:${port} (${error.code ?? error.message})\n`);
    process.exit(2);
  });

  // Drop expired messages once a minute; unref: the timer alone keeps nothing alive.
  const sweep = () => store.sweep().catch((error) => log(`sweep failed ${errorCode(error)}`));
  setInterval(sweep, 60_000).unref();

  server.listen(config.listen.port, config.listen.host, () => {
    const { address, port } = server.address();
    log(`tutorial backend listening on http://${address.includes(':') ? `[${address}]` : address}:${port}`);
    for (const platform of PLATFORMS) {
      log(`  ${platform}: ${config[platform] ? 'on' : `OFF (${config.off[platform]}): its pushes will fail`}`);
    }
    log(`  gateway TLS trusts ${config.caFile ? `only the CA in ${config.caFile}` : 'the system roots'}`);
  });

  // SIGTERM: stop accepting, let in-flight requests (and their pushes)
  // finish, close the gateway connections, exit 0.
  const shutdown = (signal) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log(`${signal}: finishing in-flight requests`);
    server.close(() => {
      pushers.close();
      log('stopped');
      process.exit(0);
    });
    server.closeIdleConnections();
    setTimeout(() => {
      log(`requests still running after ${SHUTDOWN_GRACE_MS} ms: closing them`);
      server.closeAllConnections();
      process.exit(1);
    }, SHUTDOWN_GRACE_MS).unref();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // A bug must not take every user's connection down with it.
  process.on('unhandledRejection', (error) => log(`bug: unhandled rejection ${error?.stack ?? error}`));
}

main();
