#!/usr/bin/env node
// A secure-push backend in the shape of the Azure Notification Hubs "Notify
// Users" + "Secure Push" tutorial, in plain Node.js (20 or later) with no
// dependencies, that sends through a Notification Hub's REST API as the
// tutorial does: the hub holds the device registrations and fans every
// push out to APNs, FCM and WNS with its own credentials.
//
// The pattern: a sender posts a secret message; the backend stores it and
// asks the hub to push only an opaque, random id to the recipient's tag;
// the device fetches the content with its own credentials. Nothing
// sensitive ever travels through the hub, Apple, Google or Microsoft.
//
// The API is the tutorial's (see README.md next to this file), with the
// tutorial's security bugs fixed. Registrations live in the hub (Atom XML
// registration descriptions), tagged `username:<owner>`; that tag is the
// backend's only record of who owns a device, so only the backend writes
// it, and only for the caller.
//
// Configuration is the pushproof backend contract's hub half, all
// environment:
//   PUSHPROOF_LISTEN                host:port to listen on (default 127.0.0.1:8080)
//   PUSHPROOF_CA_FILE               if set, trust exactly this CA for the hub
//   PUSHPROOF_NH_CONNECTION_STRING  Endpoint=sb://…/;SharedAccessKeyName=…;SharedAccessKey=…
//   PUSHPROOF_NH_HUB                the hub's name
// A missing or unusable variable exits 2, naming it.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { URL, URLSearchParams } from 'node:url';

const MAX_BODY = 64 * 1024; // request bodies larger than this get 413
const MAX_HUB_REPLY = 1024 * 1024; // a registration listing is never bigger
const HUB_TIMEOUT_MS = 10_000; // per hub request, connection included
const API_VERSION = '2020-06'; // what @azure/notification-hubs 2.x speaks
const SAS_LIFETIME_S = 3600; // a token lives an hour…
const SAS_RENEW_BEFORE_S = 300; // …and is replaced five minutes before it dies
const NOTIFICATION_TTL_MS = 24 * 3600 * 1000; // stored messages expire after a day
const MAX_STORED_PAYLOAD = 64 * 1024 * 1024; // in-memory store: oldest evicted beyond this
const MAX_TAGS = 60; // Notification Hubs allows 60 tags per registration
const MAX_LISTING_PAGES = 10; // registrations of one handle: a page is plenty
const SHUTDOWN_GRACE_MS = 10_000;

const USERNAME = /^[A-Za-z0-9_.@-]{1,64}$/;
const TAG = /^[A-Za-z0-9_@#.:-]{1,120}$/; // Notification Hubs tag alphabet
const ID = /^[0-9a-f]{32}$/; // our notification ids
const REGISTRATION_ID = /^[0-9A-Za-z-]{1,64}$/; // the hub's registration ids
const APNS_DEVICE_TOKEN = /^[0-9A-Fa-f]{1,400}$/;
const FCM_TOKEN = /^[A-Za-z0-9_:.-]{1,4096}$/;
const HUB_NAME = /^[A-Za-z0-9._-]{1,260}$/;

// The hub's names for each of the tutorial's platforms: the registration
// description, the element holding the handle, the send format.
const PLATFORMS = {
  apns: { kind: 'Apple', handle: 'DeviceToken', format: 'apple' },
  fcm: { kind: 'FcmV1', handle: 'FcmV1RegistrationId', format: 'fcmv1' },
  wns: { kind: 'Windows', handle: 'ChannelUri', format: 'windows' },
};
const KINDS = Object.fromEntries(Object.entries(PLATFORMS).map(([name, p]) => [p.kind, name]));

// ---------------------------------------------------------------- logging

// One line per event on stderr. Callers pass only fixed words, ids, status
// codes and the hub's error codes: never a message, a header, a handle or
// a user name (with the tutorial's rule a user name is also the password).
function log(line) {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`);
}
// A closed log pipe (EPIPE) must not take the server down with it.
process.stderr.on('error', () => {});

// Text from outside made safe for one log line.
function printable(text, max = 80) {
  return String(text).replace(/[^\x20-\x7e]/g, '?').slice(0, max);
}

// ---------------------------------------------------------- configuration

class ConfigError extends Error {}

function readConfig(env) {
  const value = (name) => (env[name]?.trim() ? env[name].trim() : undefined);
  const required = (name) => {
    const found = value(name);
    if (found === undefined) throw new ConfigError(`${name} is not set: this backend sends through a Notification Hub`);
    return found;
  };
  const config = { listen: parseListen(value('PUSHPROOF_LISTEN') ?? '127.0.0.1:8080') };
  const caFile = value('PUSHPROOF_CA_FILE');
  if (caFile) {
    config.ca = readFile('PUSHPROOF_CA_FILE', caFile);
    if (!config.ca.includes('-----BEGIN CERTIFICATE-----')) {
      throw new ConfigError(`PUSHPROOF_CA_FILE=${caFile}: no PEM certificate in it`);
    }
    config.caFile = caFile;
  }
  config.hub = parseConnectionString(required('PUSHPROOF_NH_CONNECTION_STRING'));
  const hub = required('PUSHPROOF_NH_HUB');
  if (!HUB_NAME.test(hub)) throw new ConfigError(`PUSHPROOF_NH_HUB=${printable(hub)}: not a hub name`);
  config.hub.name = hub;
  return config;
}

// `Endpoint=sb://<namespace>/;SharedAccessKeyName=<rule>;SharedAccessKey=<key>`
// as the portal shows it. The SDKs call the sb:// endpoint over https://;
// `UseDevelopmentEmulator=true` (the convention of Azure's local emulators)
// says it speaks plain HTTP. The key is never part of an error message.
function parseConnectionString(text) {
  const variable = 'PUSHPROOF_NH_CONNECTION_STRING';
  const parts = {};
  for (const part of text.split(';').map((p) => p.trim()).filter(Boolean)) {
    const at = part.indexOf('='); // the key is base64 and may end in '='
    if (at < 1) throw new ConfigError(`${variable}: a part of it is not Name=Value`);
    parts[part.slice(0, at).trim().toLowerCase()] = part.slice(at + 1).trim();
  }
  for (const name of ['Endpoint', 'SharedAccessKeyName', 'SharedAccessKey']) {
    if (!parts[name.toLowerCase()]) throw new ConfigError(`${variable}: it has no ${name}`);
  }
  const endpoint = parts.endpoint;
  const match = /^(sb|https?):\/\/([^/]+)\/?/i.exec(endpoint);
  if (!match) throw new ConfigError(`${variable}: the Endpoint ${printable(endpoint)} is not an sb:// URL`);
  const emulator = (parts.usedevelopmentemulator ?? '').toLowerCase() === 'true';
  const scheme = match[1].toLowerCase() === 'sb' ? (emulator ? 'http' : 'https') : match[1].toLowerCase();
  let origin;
  try {
    origin = new URL(`${scheme}://${match[2]}`).origin;
  } catch {
    throw new ConfigError(`${variable}: the Endpoint ${printable(endpoint)} names no host`);
  }
  return { origin, keyName: parts.sharedaccesskeyname, key: parts.sharedaccesskey };
}

function parseListen(text) {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) {
    throw new ConfigError(`PUSHPROOF_LISTEN=${text}: expected host:port`);
  }
  return { host: match[1] ?? match[2], port };
}

function readFile(variable, path) {
  try {
    return fs.readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`${variable}=${path}: cannot read it (${error.code ?? error.message})`);
  }
}

// ------------------------------------------------------------------ XML

const escapeXml = (text) => String(text).replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;',
}[c]));

const unescapeXml = (text) => text.replace(/&(#x[0-9a-f]+|#\d+|lt|gt|quot|apos|amp);/gi, (_, e) => {
  const named = { lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' }[e.toLowerCase()];
  if (named) return named;
  const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
  return String.fromCodePoint(code);
});

// The text of the first <name>…</name> in `xml` (the hub writes these
// elements without attributes), or null.
function element(xml, name) {
  const match = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml);
  return match ? unescapeXml(match[1]) : null;
}

// One Atom entry's registration: id, platform, handle, tags. Null for a
// kind this backend does not make (a template, legacy GCM, another app's).
function parseRegistration(entry) {
  const kind = /<(Apple|FcmV1|Windows)RegistrationDescription[\s>]/.exec(entry)?.[1];
  const platform = kind && KINDS[kind];
  if (!platform) return null;
  const tags = element(entry, 'Tags');
  return {
    id: element(entry, 'RegistrationId'),
    platform,
    handle: element(entry, PLATFORMS[platform].handle),
    tags: tags ? tags.split(',').map((t) => t.trim()).filter(Boolean) : [],
  };
}

// The body of a create-or-update: the platform's registration description.
function registrationXml({ platform, handle, tags }) {
  const { kind, handle: field } = PLATFORMS[platform];
  return '<?xml version="1.0" encoding="utf-8"?>'
    + '<entry xmlns="http://www.w3.org/2005/Atom"><content type="application/xml">'
    + `<${kind}RegistrationDescription xmlns:i="http://www.w3.org/2001/XMLSchema-instance"`
    + ' xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect">'
    + `<Tags>${escapeXml(tags.join(','))}</Tags><${field}>${escapeXml(handle)}</${field}>`
    + `</${kind}RegistrationDescription></content></entry>`;
}

// ------------------------------------------------------------------ hub

// A Notification Hubs REST call failed: its status and the hub's error
// <Detail> (safe to log: the hub words it, it quotes no secret of ours).
class HubError extends Error {
  constructor(status, detail) {
    super(`hub answered ${status} ${printable(detail)}`.trim());
    this.status = status;
  }
}

// The hub's REST API, as the tutorial's backend uses it through the SDK.
class Hub {
  #config;
  #client;
  #agent;
  #token = null;
  #expiry = 0;

  constructor(config, ca) {
    this.#config = config;
    const secure = config.origin.startsWith('https:');
    // Keep-alive: one TLS handshake serves many calls. With
    // PUSHPROOF_CA_FILE the agent trusts exactly that CA (Node's `ca`
    // option replaces the default roots, it does not add to them).
    this.#client = secure ? https : http;
    this.#agent = new this.#client.Agent({ keepAlive: true, maxSockets: 64, ...(secure ? { ca } : {}) });
  }

  // A shared access signature for the namespace URL, as the SDKs make it:
  // HMAC-SHA256 keyed by the key's text (not its base64-decoded bytes) over
  // the encoded URL, a newline and the expiry. One per hour, not per call.
  #sas() {
    const now = Math.floor(Date.now() / 1000);
    if (!this.#token || now + SAS_RENEW_BEFORE_S >= this.#expiry) {
      const { origin, keyName, key } = this.#config;
      const sr = encodeURIComponent(`${origin}/`.toLowerCase());
      const expiry = now + SAS_LIFETIME_S;
      const sig = crypto.createHmac('sha256', key).update(`${sr}\n${expiry}`).digest('base64');
      this.#token = `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${expiry}`
        + `&skn=${encodeURIComponent(keyName)}`;
      this.#expiry = expiry;
    }
    return this.#token;
  }

  // One call → { status, headers, body (text) }; a transport error rejects.
  request(method, path, { query = {}, headers = {}, body = '' } = {}) {
    const { origin, name } = this.#config;
    const url = new URL(`${origin}/${name}${path}`);
    url.search = new URLSearchParams({ ...query, 'api-version': API_VERSION }).toString();
    const payload = Buffer.from(body);
    return new Promise((resolve, reject) => {
      const request = this.#client.request(url, {
        method,
        agent: this.#agent,
        signal: AbortSignal.timeout(HUB_TIMEOUT_MS),
        headers: {
          authorization: this.#sas(),
          'x-ms-version': API_VERSION,
          'content-length': payload.length,
          ...headers,
        },
      }, (response) => {
        const chunks = [];
        let size = 0;
        response.on('data', (chunk) => {
          size += chunk.length;
          if (size > MAX_HUB_REPLY) request.destroy(new Error('answer too large'));
          else chunks.push(chunk);
        });
        response.on('end', () => resolve({
          status: response.statusCode,
          headers: response.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }));
        response.on('error', reject);
      });
      request.on('error', reject);
      request.end(payload);
    });
  }

  // Rejects with a HubError unless the status is one of `ok`.
  async #expect(ok, method, path, options) {
    const reply = await this.request(method, path, options);
    if (!ok.includes(reply.status)) throw new HubError(reply.status, element(reply.body, 'Detail') ?? '');
    return reply;
  }

  // A new registration id (the hub's, from the Location it answers).
  async createRegistrationId() {
    const reply = await this.#expect([201], 'POST', '/registrationIDs');
    const location = new URL(String(reply.headers.location ?? ''), this.#config.origin);
    const id = decodeURIComponent(location.pathname.split('/').filter(Boolean).at(-1) ?? '');
    if (!REGISTRATION_ID.test(id)) throw new HubError(reply.status, 'no registration id in Location');
    return id;
  }

  // The registration with this id, or null.
  async getRegistration(id) {
    const reply = await this.#expect([200, 404], 'GET', `/registrations/${encodeURIComponent(id)}`);
    return reply.status === 404 ? null : parseRegistration(reply.body);
  }

  // Every registration of this device handle, on the platforms it could
  // be a handle of (a channel URI is WNS's; hex is an APNs device token or
  // an FCM token; anything else FCM's).
  async registrationsOf(handle, platform) {
    const platforms = platform ? [platform]
      : /^https?:\/\//i.test(handle) ? ['wns']
        : APNS_DEVICE_TOKEN.test(handle) ? ['apns', 'fcm'] : ['fcm'];
    const found = [];
    for (const name of platforms) {
      // The hub decodes a channel URI in a filter: encode it, quotes too.
      const value = name === 'wns' ? encodeURIComponent(handle).replace(/'/g, '%27') : handle;
      const query = { $filter: `${PLATFORMS[name].handle} eq '${value}'` };
      for (let page = 0; page < MAX_LISTING_PAGES; page += 1) {
        const reply = await this.#expect([200], 'GET', '/registrations', { query });
        for (const entry of reply.body.match(/<entry[\s>][\s\S]*?<\/entry>/g) ?? []) {
          const registration = parseRegistration(entry);
          if (registration?.handle === handle) found.push(registration);
        }
        const next = reply.headers['x-ms-continuationtoken'];
        if (!next) break;
        query.continuationtoken = String(next);
      }
    }
    return found;
  }

  // Creates or replaces registration `id`: no If-Match, which would ask
  // the hub to refuse an id it does not hold yet.
  async putRegistration(id, registration) {
    await this.#expect([200, 201], 'PUT', `/registrations/${encodeURIComponent(id)}`, {
      headers: { 'content-type': 'application/atom+xml;type=entry;charset=utf-8' },
      body: registrationXml(registration),
    });
  }

  async deleteRegistration(id) {
    await this.#expect([200, 404], 'DELETE', `/registrations/${encodeURIComponent(id)}`, {
      headers: { 'if-match': '*' },
    });
  }

  // Asks the hub to push `id` to every `platform` device tagged `tag`, in
  // the tutorial's Secure Push shapes (only the id); the hub adds each
  // device's token. → 'delivered' or a short reason.
  async push(platform, tag, id) {
    const shapes = {
      // A silent background push; these headers pass through to APNs.
      apns: {
        body: JSON.stringify({ aps: { 'content-available': 1 }, secureId: id }),
        headers: { 'content-type': 'application/json;charset=utf-8', 'apns-push-type': 'background', 'apns-priority': '5' },
      },
      // FCM v1, wrapped as the hub wants it; data only, HIGH because the
      // app fetches and shows a notification at once.
      fcm: {
        body: JSON.stringify({ message: { data: { secureId: id }, android: { priority: 'HIGH' } } }),
        headers: { 'content-type': 'application/json;charset=utf-8' },
      },
      // A raw push whose body is the id and nothing else.
      wns: { body: id, headers: { 'content-type': 'application/octet-stream', 'x-wns-type': 'wns/raw' } },
    };
    const { body, headers } = shapes[platform];
    const reply = await this.request('POST', '/messages/', {
      headers: {
        ...headers,
        'servicebusnotification-format': PLATFORMS[platform].format,
        'servicebusnotification-tags': tag,
      },
      body,
    });
    // The hub accepts a send with 201 and fans out after; which devices
    // took it, and which are gone, is the hub's to know and to clean up.
    return reply.status === 201 ? 'delivered' : `${reply.status} ${printable(element(reply.body, 'Detail') ?? '')}`;
  }

  close() {
    this.#agent.destroy();
  }
}

// -------------------------------------------------------- notifications

const randomId = () => crypto.randomBytes(16).toString('hex'); // 128 bits, CSPRNG

// In memory, as the tutorial's is; every method is async and takes plain
// values, so a database can take its place without touching the handlers.
function createNotificationStore() {
  // id → { id, recipient, sender, payload, expiresAt, read }; `sender` is
  // kept for an audit trail and never shown to the recipient.
  const notifications = new Map();
  let storedBytes = 0;
  const remove = (notification) => {
    notifications.delete(notification.id);
    storedBytes -= Buffer.byteLength(notification.payload);
  };
  return {
    async create({ recipient, sender, payload }) {
      const id = randomId();
      notifications.set(id, { id, recipient, sender, payload, expiresAt: Date.now() + NOTIFICATION_TTL_MS, read: false });
      storedBytes += Buffer.byteLength(payload);
      // Maps keep insertion order: the first entries are the oldest.
      for (const oldest of notifications.values()) {
        if (storedBytes <= MAX_STORED_PAYLOAD) break;
        remove(oldest);
      }
      return id;
    },
    // The notification as its recipient sees it; null for anyone else, an
    // unknown id or an expired one. `Read` says whether it was fetched before.
    async read(id, recipient) {
      const notification = notifications.get(id);
      if (!notification || notification.recipient !== recipient) return null;
      if (notification.expiresAt <= Date.now()) {
        remove(notification);
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
        remove(notification);
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

// The tutorial's `pns` names; "gcm" is what the older tutorial calls FCM.
function parsePlatform(text) {
  const name = String(text).toLowerCase();
  if (name === 'gcm') return 'fcm';
  return Object.hasOwn(PLATFORMS, name) ? name : null;
}

// No platform's device address is empty, huge, or has spaces or controls.
const plausibleHandle = (handle) => typeof handle === 'string' && /^[\x21-\x7e\x80-\uffff]{1,4096}$/.test(handle);

function validHandle(platform, handle) {
  if (!plausibleHandle(handle)) return false;
  if (platform === 'apns') return APNS_DEVICE_TOKEN.test(handle);
  if (platform === 'fcm') return FCM_TOKEN.test(handle);
  try {
    return ['http:', 'https:'].includes(new URL(handle).protocol); // a WNS channel URI
  } catch {
    return false;
  }
}

// A hub failure while registering: the tutorial lets it surface as a 500;
// here it is a 502 with a fixed message, and the hub's words in the log.
async function viaHub(what, call) {
  try {
    return await call();
  } catch (error) {
    log(`hub ${what} failed: ${error instanceof HubError ? error.message : printable(error?.code ?? error?.message)}`);
    throw new HttpError(502, 'the notification hub did not take the request');
  }
}

function makeApi({ hub, store }) {
  const owns = (registration, user) => registration.tags.includes(`username:${user}`);

  // POST /api/register?handle=H → a registration id, as a JSON string. As
  // in the tutorial: the first of the caller's registrations of handle H,
  // the caller's stale duplicates deleted; otherwise a new id. Another
  // user's registration is neither handed out nor touched.
  async function createRegistration(request, response, { user, query }) {
    const handle = query.get('handle');
    if (handle !== null && !plausibleHandle(handle)) throw new HttpError(400, 'bad handle');
    const id = await viaHub('register', async () => {
      const mine = handle === null ? [] : (await hub.registrationsOf(handle)).filter((r) => owns(r, user));
      for (const stale of mine.slice(1)) await hub.deleteRegistration(stale.id);
      return mine[0]?.id ?? hub.createRegistrationId();
    });
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
    if (!validHandle(platform, handle)) throw new HttpError(400, 'Handle is not a valid address for this platform');
    const clientTags = field(body, 'Tags') ?? []; // the tutorial crashes on null; an absent list is empty
    const wellFormed = (tag) => typeof tag === 'string' && TAG.test(tag);
    if (!Array.isArray(clientTags) || clientTags.length >= MAX_TAGS || !clientTags.every(wellFormed)) {
      throw new HttpError(400, `Tags must be at most ${MAX_TAGS - 1} tags of 1-120 of A-Z a-z 0-9 _ @ # . : -`);
    }
    // The tutorial trusts client tags: tagging yourself `username:victim`
    // would route the victim's pushes to your device. Only the backend
    // assigns `username:` tags, and only the caller's own.
    const own = `username:${user}`;
    if (clientTags.some((tag) => tag.toLowerCase().startsWith('username:') && tag !== own)) {
      throw new HttpError(403, 'username: tags are reserved to their user');
    }
    if (!REGISTRATION_ID.test(id)) throw notFound();
    const tags = [...new Set([own, ...clientTags])];
    const outcome = await viaHub('register', async () => {
      // An id another user registered is not the caller's to change.
      const current = await hub.getRegistration(id);
      if (current && !owns(current, user)) return 'not-found';
      const holders = (await hub.registrationsOf(handle, platform)).filter((r) => r.id !== id);
      if (holders.some((r) => !owns(r, user))) return 'handle-taken';
      // One registration per device and user: older ones for the handle go.
      for (const stale of holders) await hub.deleteRegistration(stale.id);
      await hub.putRegistration(id, { platform, handle, tags });
      return 'updated';
    });
    if (outcome === 'not-found') throw notFound();
    if (outcome === 'handle-taken') throw new HttpError(409, 'this handle is registered by another user');
    reply(response, 200);
  }

  // DELETE /api/register/{id} → 200, for its owner only.
  async function deleteRegistration(request, response, { user, id }) {
    if (!REGISTRATION_ID.test(id)) throw notFound();
    const deleted = await viaHub('unregister', async () => {
      const current = await hub.getRegistration(id);
      if (!current || !owns(current, user)) return false;
      await hub.deleteRegistration(id);
      return true;
    });
    if (!deleted) throw notFound();
    reply(response, 200);
  }

  // POST /api/notifications?pns=…&to_tag=USER, body: the message as a JSON
  // string. Stores it and asks the hub to push only its id to the user's
  // tag: on `pns`'s platform, or with no `pns` on each.
  async function sendNotification(request, response, { user, query }) {
    const recipient = query.get('to_tag');
    if (recipient === null || !USERNAME.test(recipient)) throw new HttpError(400, 'to_tag must be a user name');
    const pns = query.get('pns');
    const platform = pns === null ? null : parsePlatform(pns);
    if (pns !== null && !platform) throw new HttpError(400, 'pns must be apns, fcm (or gcm) or wns');
    const message = await readJson(request);
    if (typeof message !== 'string') throw new HttpError(400, 'the body must be the message as a JSON string');

    const id = await store.create({ recipient, sender: user, payload: message });
    // The tutorial sends to `username:<to> || from:<sender>`, which also
    // reaches the sender's own devices: only the recipient's tag here.
    const tag = `username:${recipient}`;
    const platforms = platform ? [platform] : Object.keys(PLATFORMS);
    const outcomes = await Promise.all(platforms.map((p) => hub.push(p, tag, id).catch((error) => (
      `${error?.name === 'TimeoutError' ? 'timeout' : printable(error?.code ?? error?.message)}`))));
    const pushed = outcomes.filter((o) => o === 'delivered').length;
    for (const [i, outcome] of outcomes.entries()) {
      if (outcome !== 'delivered') log(`push ${platforms[i]} via hub failed: ${outcome}`);
    }
    response.logNote = `pushed=${pushed} failed=${outcomes.length - pushed}`;
    // As the tutorial answers 500 when the hub abandons a send: if the hub
    // took none of them, say so.
    if (pushed === 0) throw new HttpError(502, 'the notification hub did not take the push');
    reply(response, 200);
  }

  // GET /api/notifications/{id} → {"Id","Payload","Read"}, to its recipient only.
  async function fetchNotification(request, response, { user, id }) {
    const notification = ID.test(id) ? await store.read(id, user) : null;
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
    process.stderr.write(`tutorial-hub.mjs: ${error.message}\n`);
    process.exit(2);
  }

  const hub = new Hub(config.hub, config.ca);
  const store = createNotificationStore();
  const handle = makeApi({ hub, store });
  let shuttingDown = false;

  // Slow clients get 10 s for their headers and 30 s for the whole
  // request; idle keep-alive connections stay open for 65 s.
  const options = { headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 65_000 };
  const server = http.createServer(options, (request, response) => {
    const started = process.hrtime.bigint();
    response.on('close', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const note = response.logNote ? ` ${response.logNote}` : '';
      const status = response.writableFinished ? response.statusCode : 'aborted';
      log(`${printable(request.method, 10)} ${response.logRoute ?? '-'} ${status} ${ms.toFixed(1)}ms${note}`);
      if (shuttingDown) setImmediate(() => server.closeIdleConnections());
    });
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
      socket.destroy();
      return;
    }
    const status = {
      HPE_HEADER_OVERFLOW: '431 Request Header Fields Too Large',
      ERR_HTTP_REQUEST_TIMEOUT: '408 Request Timeout',
    }[error.code] ?? '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });

  server.on('error', (error) => {
    const { host, port } = config.listen;
    process.stderr.write(`tutorial-hub.mjs: cannot listen on ${host}:${port} (${error.code ?? error.message})\n`);
    process.exit(2);
  });

  // Drop expired messages once a minute; unref: the timer alone keeps nothing alive.
  setInterval(() => store.sweep().catch(() => {}), 60_000).unref();

  server.listen(config.listen.port, config.listen.host, () => {
    const { address, port } = server.address();
    log(`tutorial hub backend listening on http://${address.includes(':') ? `[${address}]` : address}:${port}`);
    log(`  pushes through the Notification Hub ${config.hub.name} at ${config.hub.origin} (rule ${printable(config.hub.keyName)})`);
    log(`  hub TLS trusts ${config.caFile ? `only the CA in ${config.caFile}` : 'the system roots'}`);
  });

  // SIGTERM: stop accepting, let in-flight requests (and their hub calls)
  // finish, close the hub connections, exit 0.
  const shutdown = (signal) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log(`${signal}: finishing in-flight requests`);
    server.close(() => {
      hub.close();
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
  process.on('unhandledRejection', (error) => log(`bug: unhandled rejection ${error?.stack ?? error}`));
}

main();
