// APNs through @parse/node-apn (token auth, HTTP/2 over TLS): one accepted
// push and the main rejections, each as the library reports it.
//
// node-apn is pointed at the mock with its own options, `address` and
// `port`; it trusts the mock's CA through NODE_EXTRA_CA_CERTS.
//
// Inputs: PUSHPROOF_APNS_{URL,KEY_FILE,KEY_ID,TEAM_ID,TOPIC}, INTEROP_NONCE,
// INTEROP_APNS_DEVICE (registered), INTEROP_APNS_UNKNOWN_DEVICE (64 hex
// digits the mock never issued).

import { generateKeyPairSync, randomUUID } from 'node:crypto';
import apn from '@parse/node-apn';
import { env, report, run } from './common.mjs';

const LIBRARY = '@parse/node-apn';

function provider(key) {
  const url = new URL(env('PUSHPROOF_APNS_URL'));
  return new apn.Provider({
    token: { key, keyId: env('PUSHPROOF_APNS_KEY_ID'), teamId: env('PUSHPROOF_APNS_TEAM_ID') },
    address: url.hostname,
    port: Number(url.port),
    production: false,
  });
}

function notification(topic, text) {
  const note = new apn.Notification();
  note.id = randomUUID();
  note.topic = topic;
  note.pushType = 'alert';
  note.alert = text;
  note.payload = { nonce: env('INTEROP_NONCE') };
  return note;
}

/** What node-apn's `send` resolved with, for one recipient. */
function outcome(note, result) {
  if (result.sent.length === 1 && result.failed.length === 0) {
    const sent = result.sent[0];
    return { ok: true, device: sent.device, apnsId: sent['apns-id'], sentId: note.id };
  }
  const failed = result.failed[0];
  return {
    ok: false,
    device: failed.device,
    status: failed.status ?? null,
    reason: failed.response?.reason ?? null,
    // node-apn reports transport failures as `error` (a VError) instead.
    error: failed.error ? String(failed.error.message ?? failed.error) : null,
  };
}

async function send(p, topic, device, text) {
  const note = notification(topic, text);
  return outcome(note, await p.send(note, device));
}

run(async () => {
  const topic = env('PUSHPROOF_APNS_TOPIC');
  const device = env('INTEROP_APNS_DEVICE');
  const cases = {};

  const p = provider(env('PUSHPROOF_APNS_KEY_FILE'));
  try {
    cases.success = await send(p, topic, device, 'accepted');
    cases.unknown_device = await send(p, topic, env('INTEROP_APNS_UNKNOWN_DEVICE'), 'unknown');
    cases.wrong_topic = await send(p, `${topic}.other`, device, 'wrong topic');
  } finally {
    await p.shutdown();
  }

  // A key the mock never issued, with the right key and team ids: the
  // provider token's signature does not verify.
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const stranger = provider(privateKey.export({ type: 'pkcs8', format: 'pem' }));
  try {
    cases.foreign_key = await send(stranger, topic, device, 'foreign key');
  } finally {
    await stranger.shutdown();
  }

  report(LIBRARY, cases);
});
