// FCM HTTP v1 through firebase-admin (the Admin SDK's `messaging().send`):
// one accepted push, a dry run, and the main rejections, each as the
// library reports it.
//
// firebase-admin hard-codes https://fcm.googleapis.com for sends, and its
// google-auth-library fetches access tokens from
// https://oauth2.googleapis.com/token (and signs that URL as the
// assertion's audience) whatever the service-account file's token_uri
// says. Its documented hook is an `httpAgent` (app option and `cert()`
// argument), used for both: the agent sends every connection to the mock
// FCM origin, where `/token` is the token endpoint and
// `/v1/projects/{p}/messages:send` the send endpoint.
//
// Inputs: PUSHPROOF_FCM_{URL,PROJECT_ID,CREDENTIALS}, INTEROP_NONCE,
// INTEROP_FCM_DEVICE (registered), INTEROP_FCM_UNKNOWN_DEVICE (never
// issued).

import { cert, deleteApp, initializeApp } from 'firebase-admin/app';
import { getMessaging } from 'firebase-admin/messaging';
import { env, report, reroutingAgent, run } from './common.mjs';

const LIBRARY = 'firebase-admin';

function app(name, projectId, agent) {
  return initializeApp(
    { credential: cert(env('PUSHPROOF_FCM_CREDENTIALS'), agent), httpAgent: agent, projectId },
    name,
  );
}

/** What `send` resolved with, or the FirebaseMessagingError it threw. */
async function send(firebase, message, dryRun = false) {
  try {
    const name = await getMessaging(firebase).send(message, dryRun);
    return { ok: true, name };
  } catch (error) {
    return {
      ok: false,
      errorType: error?.constructor?.name ?? typeof error,
      code: error?.code ?? null,
      message: error?.message ?? String(error),
    };
  }
}

function message(token, text) {
  return {
    token,
    notification: { title: 'pushproof', body: text },
    data: { nonce: env('INTEROP_NONCE') },
  };
}

run(async () => {
  const agent = reroutingAgent(env('PUSHPROOF_FCM_URL'));
  const device = env('INTEROP_FCM_DEVICE');
  const cases = {};

  const firebase = app('pushproof', env('PUSHPROOF_FCM_PROJECT_ID'), agent);
  // A project the service account does not belong to: the send is refused
  // though the token is valid.
  const stranger = app('stranger', 'another-project', agent);
  try {
    cases.success = await send(firebase, message(device, 'accepted'));
    cases.dry_run = await send(firebase, message(device, 'dry run'), true);
    cases.unknown_device = await send(
      firebase,
      message(env('INTEROP_FCM_UNKNOWN_DEVICE'), 'unknown'),
    );
    cases.wrong_project = await send(stranger, message(device, 'wrong project'));
  } finally {
    await Promise.all([deleteApp(firebase), deleteApp(stranger)]);
    agent.destroy();
  }

  report(LIBRARY, cases);
});
