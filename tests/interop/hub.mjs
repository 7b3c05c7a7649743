// Azure Notification Hubs through the official `@azure/notification-hubs`
// SDK, pointed at the mock hub by its connection string over TLS
// (NODE_EXTRA_CA_CERTS): installations on all three platforms (create,
// patch, read, delete), registrations (an id, create-or-update, create,
// list by tag), and sends to tags, tag expressions, device handles
// (direct and batch) and a test send, plus one rejection.
//
// Inputs: PUSHPROOF_NH_CONNECTION_STRING, PUSHPROOF_NH_HUB, INTEROP_NONCE,
// INTEROP_HUB_LISTEN (the Listen-only connection string), and device
// handles INTEROP_HUB_{APNS,APNS_DECOY,FCM,WNS,FCM_REG,APNS_REG,
// APNS_DIRECT1,APNS_DIRECT2}.

import {
  NotificationHubsClient,
  createAppleInstallation,
  createAppleNotification,
  createAppleRegistrationDescription,
  createFcmV1Installation,
  createFcmV1Notification,
  createFcmV1RegistrationDescription,
  createWindowsInstallation,
  createWindowsRawNotification,
} from '@azure/notification-hubs';
import { env, report, run } from './common.mjs';

const LIBRARY = '@azure/notification-hubs';

/** Runs one SDK call; resolves with what the SDK reported. */
async function attempt(fn) {
  try {
    const value = await fn();
    return { ok: true, value: value ?? null };
  } catch (error) {
    return {
      ok: false,
      errorType: error?.name ?? typeof error,
      statusCode: error?.statusCode ?? null,
      message: error?.message ?? String(error),
    };
  }
}

run(async () => {
  const client = new NotificationHubsClient(env('PUSHPROOF_NH_CONNECTION_STRING'), env('PUSHPROOF_NH_HUB'));
  const nonce = env('INTEROP_NONCE');
  const handle = (name) => env(`INTEROP_HUB_${name}`);
  const cases = {};

  // Installations on the three platforms, and a decoy on another tag.
  cases.install_apns = await attempt(() =>
    client.createOrUpdateInstallation(
      createAppleInstallation({ installationId: 'i-apns', pushChannel: handle('APNS'), tags: ['user:alice'] }),
    ),
  );
  cases.install_decoy = await attempt(() =>
    client.createOrUpdateInstallation(
      createAppleInstallation({ installationId: 'i-decoy', pushChannel: handle('APNS_DECOY'), tags: ['user:carol'] }),
    ),
  );
  cases.install_fcm = await attempt(() =>
    client.createOrUpdateInstallation(
      createFcmV1Installation({ installationId: 'i-fcm', pushChannel: handle('FCM'), tags: ['user:alice'] }),
    ),
  );
  cases.install_wns = await attempt(() =>
    client.createOrUpdateInstallation(
      createWindowsInstallation({ installationId: 'i-wns', pushChannel: handle('WNS'), tags: ['user:bob'] }),
    ),
  );
  cases.patch_fcm = await attempt(() =>
    client.updateInstallation('i-fcm', [{ op: 'add', path: '/tags', value: 'team:x' }]),
  );
  cases.read_fcm = await attempt(async () => {
    const got = await client.getInstallation('i-fcm');
    return { platform: got.platform, tags: got.tags, pushChannel: got.pushChannel };
  });

  // Registrations, as the "Notify Users" tutorial's backend makes them.
  cases.registration_id = await attempt(() => client.createRegistrationId());
  cases.upsert_registration = await attempt(async () => {
    const registration = await client.createOrUpdateRegistration(
      createFcmV1RegistrationDescription({
        registrationId: cases.registration_id.value,
        fcmV1RegistrationId: handle('FCM_REG'),
        tags: ['username:dave'],
      }),
    );
    return { registrationId: registration.registrationId, tags: registration.tags, kind: registration.kind };
  });
  cases.create_registration = await attempt(async () => {
    const registration = await client.createRegistration(
      createAppleRegistrationDescription({ deviceToken: handle('APNS_REG'), tags: ['username:erin'] }),
    );
    return { registrationId: registration.registrationId, etag: registration.etag, kind: registration.kind };
  });
  cases.list_by_tag = await attempt(async () => {
    const ids = [];
    for await (const r of client.listRegistrationsByTag('username:dave')) {
      ids.push(r.registrationId);
    }
    return ids;
  });

  // Sends: a tag, expressions, a registration's tag, direct and batch.
  const apple = (what) => createAppleNotification({ body: JSON.stringify({ aps: { alert: what }, nonce }) });
  const fcm = (what) => createFcmV1Notification({ body: JSON.stringify({ message: { data: { what, nonce } } }) });
  const sent = (r) => ({ notificationId: r.notificationId ?? null, trackingId: r.trackingId ?? null, location: r.location ?? null });
  cases.send_tag = await attempt(async () => sent(await client.sendNotification(apple('tag'), { tagExpression: 'user:alice' })));
  cases.send_and = await attempt(async () =>
    sent(await client.sendNotification(fcm('and'), { tagExpression: 'user:alice && team:x' })),
  );
  cases.send_or = await attempt(async () =>
    sent(
      await client.sendNotification(createWindowsRawNotification({ body: `or-${nonce}` }), {
        tagExpression: '(user:bob || user:nobody) && !user:carol',
      }),
    ),
  );
  cases.send_registration = await attempt(async () =>
    sent(await client.sendNotification(apple('registration'), { tagExpression: 'username:erin' })),
  );
  cases.send_upserted = await attempt(async () =>
    sent(await client.sendNotification(fcm('upserted'), { tagExpression: 'username:dave' })),
  );
  cases.send_direct = await attempt(async () =>
    sent(await client.sendNotification(fcm('direct'), { deviceHandle: handle('FCM') })),
  );
  cases.send_batch = await attempt(async () =>
    sent(
      await client.sendNotification(apple('batch'), {
        deviceHandle: [handle('APNS_DIRECT1'), handle('APNS_DIRECT2')],
      }),
    ),
  );
  cases.test_send = await attempt(async () => {
    const r = await client.sendNotification(apple('test'), { tagExpression: 'user:carol', enableTestSend: true });
    return { state: r.state, successCount: r.successCount, failureCount: r.failureCount, results: r.results };
  });

  // A Listen-only key cannot send.
  const listener = new NotificationHubsClient(env('INTEROP_HUB_LISTEN'), env('PUSHPROOF_NH_HUB'));
  cases.listen_send = await attempt(() => listener.sendNotification(apple('listen'), { tagExpression: 'user:alice' }));

  // Deletes, then a read of what is gone.
  for (const id of ['i-apns', 'i-fcm', 'i-wns', 'i-decoy']) {
    cases[`delete_${id}`] = await attempt(() => client.deleteInstallation(id));
  }
  cases.read_deleted = await attempt(() => client.getInstallation('i-apns'));
  cases.send_after_delete = await attempt(async () =>
    sent(await client.sendNotification(apple('after-delete'), { tagExpression: 'user:alice' })),
  );

  report(LIBRARY, cases);
});
