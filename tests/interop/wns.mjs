// WNS through the `wns` package: raw and toast pushes (with the token the
// library fetches, reuses and refreshes on a 401), and the main
// rejections, each as the library reports it.
//
// `wns` hard-codes https://login.live.com/accesstoken.srf and port 443 for
// every channel URI, through Node's https.globalAgent: the global agent is
// replaced by one that sends every connection to the mock WNS origin (the
// token endpoint's), as a user pointing this library at the mock must.
//
// Inputs: PUSHPROOF_WNS_{TOKEN_URL,CLIENT_ID,CLIENT_SECRET}, INTEROP_NONCE,
// INTEROP_WNS_CHANNEL (registered), INTEROP_WNS_UNKNOWN_CHANNEL (a channel
// URI on the mock the mock never issued).

import https from 'node:https';
import wns from 'wns';
import { env, report, reroutingAgent, run } from './common.mjs';

const LIBRARY = 'wns';

/** Calls a callback-style `wns` sender; resolves with what it reported. */
function send(fn, ...args) {
  return new Promise((resolve) => {
    fn(...args, (error, result) => {
      if (error) {
        resolve({
          ok: false,
          errorType: error.constructor?.name ?? typeof error,
          statusCode: error.statusCode ?? null,
          message: error.message,
          wnsErrorDescription: error.headers?.['x-wns-error-description'] ?? null,
        });
      } else {
        resolve({
          ok: true,
          statusCode: result.statusCode,
          wnsStatus: result.headers['x-wns-status'] ?? null,
          notificationStatus: result.headers['x-wns-notificationstatus'] ?? null,
          newAccessToken: typeof result.newAccessToken === 'string',
          accessToken: result.newAccessToken ?? null,
        });
      }
    });
  });
}

run(async () => {
  https.globalAgent = reroutingAgent(env('PUSHPROOF_WNS_TOKEN_URL'));
  const channel = env('INTEROP_WNS_CHANNEL');
  const nonce = env('INTEROP_NONCE');
  const credentials = {
    client_id: env('PUSHPROOF_WNS_CLIENT_ID'),
    client_secret: env('PUSHPROOF_WNS_CLIENT_SECRET'),
  };
  const cases = {};

  // No token yet: the library fetches one, then pushes.
  cases.raw = await send(wns.sendRaw, channel, `raw ${nonce}`, { ...credentials });
  const accessToken = cases.raw.accessToken;
  if (typeof accessToken !== 'string') {
    throw new Error(`the first push got no access token: ${JSON.stringify(cases.raw)}`);
  }
  // The token reused, as the library's docs ask.
  cases.toast = await send(wns.sendToastText01, channel, `toast ${nonce}`, {
    ...credentials,
    accessToken,
  });
  // A token the mock never issued: 401, then the library fetches a new one
  // and pushes again, once.
  cases.refresh = await send(wns.sendRaw, channel, `refresh ${nonce}`, {
    ...credentials,
    accessToken: 'stale-token',
  });
  cases.unknown_channel = await send(
    wns.sendRaw,
    env('INTEROP_WNS_UNKNOWN_CHANNEL'),
    `unknown ${nonce}`,
    { ...credentials, accessToken },
  );
  cases.wrong_secret = await send(wns.sendRaw, channel, `wrong secret ${nonce}`, {
    ...credentials,
    client_secret: 'not-the-secret',
  });

  for (const outcome of Object.values(cases)) delete outcome.accessToken;
  https.globalAgent.destroy();
  report(LIBRARY, cases);
});
