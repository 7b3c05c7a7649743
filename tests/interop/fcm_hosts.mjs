// FCM HTTP v1 through firebase-admin 14 as an unmodified backend runs it:
// no agent, no URL: the SDK calls Google's own hosts
// (oauth2.googleapis.com for the token, fcm.googleapis.com for sends),
// which resolve to the mocks' host-impersonation listener inside this
// process (common.mjs `resolveToMock`, as a hosts entry would outside
// it). The cases: `send` with `android.priority: 'high'`, as the SDK's
// typed API spells it; `sendEach` over HTTP/2, its default transport,
// whose requests carry `:scheme: https:`; and Node's own http2 client
// sending that `:scheme` by hand.
//
// Inputs: PUSHPROOF_FCM_{PROJECT_ID,CREDENTIALS}, INTEROP_NONCE,
// INTEROP_IMPERSONATION (host:port of the listener), INTEROP_FCM_DEVICE
// (registered), INTEROP_FCM_UNKNOWN_DEVICE (never issued).

import http2 from 'node:http2';
import { cert, deleteApp, initializeApp } from 'firebase-admin/app';
import { getMessaging } from 'firebase-admin/messaging';
import { env, report, resolveToMock, run } from './common.mjs';

const LIBRARY = 'firebase-admin';

function failure(error) {
  return {
    ok: false,
    errorType: error?.constructor?.name ?? typeof error,
    code: error?.code ?? null,
    message: error?.message ?? String(error),
  };
}

function message(token, text, priority) {
  return {
    token,
    notification: { title: 'pushproof', body: text },
    data: { nonce: env('INTEROP_NONCE') },
    android: { priority },
  };
}

/** A request with `:scheme: https:`, as firebase-admin's HTTP/2 client
 * builds it from `URL.protocol`; what status came back, or the error. */
function rawSchemeRequest(project) {
  return new Promise((resolve) => {
    const session = http2.connect('https://fcm.googleapis.com');
    session.on('error', (error) => resolve(failure(error)));
    const request = session.request({
      ':method': 'POST',
      ':scheme': 'https:',
      ':path': `/v1/projects/${project}/messages:send`,
      'content-type': 'application/json',
    });
    request.on('response', (headers) => {
      request.resume();
      request.on('end', () => {
        session.close();
        resolve({ ok: true, status: headers[':status'] });
      });
    });
    request.on('error', (error) => {
      session.close();
      resolve(failure(error));
    });
    request.end('{}');
  });
}

run(async () => {
  resolveToMock(['fcm.googleapis.com', 'oauth2.googleapis.com'], env('INTEROP_IMPERSONATION'));
  const project = env('PUSHPROOF_FCM_PROJECT_ID');
  const device = env('INTEROP_FCM_DEVICE');
  const cases = {};
  const firebase = initializeApp(
    { credential: cert(env('PUSHPROOF_FCM_CREDENTIALS')), projectId: project },
    'at-googles-hosts',
  );
  try {
    const messaging = getMessaging(firebase);
    try {
      const name = await messaging.send(message(device, 'high', 'high'));
      cases.send_high = { ok: true, name };
    } catch (error) {
      cases.send_high = failure(error);
    }
    try {
      const batch = await messaging.sendEach([
        message(device, 'each', 'normal'),
        message(env('INTEROP_FCM_UNKNOWN_DEVICE'), 'unknown', 'high'),
      ]);
      cases.send_each = {
        ok: batch.successCount === 1,
        successCount: batch.successCount,
        failureCount: batch.failureCount,
        responses: batch.responses.map((r) => ({
          success: r.success,
          messageId: r.messageId ?? null,
          code: r.error?.code ?? null,
        })),
      };
    } catch (error) {
      cases.send_each = failure(error);
    }
  } finally {
    await deleteApp(firebase);
  }
  cases.raw_scheme = await rawSchemeRequest(project);
  report(LIBRARY, cases);
});
