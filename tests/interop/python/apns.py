"""APNs through aioapns (token auth, HTTP/2 over TLS on python-hyper's h2,
an HTTP/2 implementation independent of the mock's hyper): bursts of
accepted pushes across the mock's stream-limit changes, and the main
rejections, each as the library reports it.

aioapns has no option for the host: its connection pool connects to
`protocol_class.APNS_SERVER:APNS_PORT` (api.development.push.apple.com:443
with use_sandbox) and names APNS_SERVER in the `host` header and the TLS
hostname check. `protocol_class` is an attribute of each client's pool, so
the script gives each client a subclass naming the mock's host and port
instead of patching the library's classes. The certificate is checked for
127.0.0.1, which the mock's certificate covers, against SSL_CERT_FILE.

The stream limit: the mock, like APNs, announces MAX_CONCURRENT_STREAMS=1
on a new connection, 1000 once a push is accepted and 1 again after a
rejected push (SETTINGS frames). The subclass also records each value h2
decoded, so that the test sees the library was told. aioapns 4.0 follows
the limit with a resizable semaphore that loses permits when the limit is
raised while none is free (its `bound` setter releases the new permits
before it raises the bound, so they are capped at the old one): after that,
the next rejected push leaves the semaphore far below zero and that
connection never sends again. Real APNs changes its limit the same way, so
that is for the library to fix; the script keeps to what the library
survives, no rejected push on a connection whose limit was raised (with its
default pool of up to 10 connections, aioapns routes around a stuck
connection by opening another).

Inputs: PUSHPROOF_APNS_{URL,KEY_FILE,KEY_ID,TEAM_ID,TOPIC}, INTEROP_NONCE,
INTEROP_APNS_DEVICE (registered), INTEROP_APNS_UNKNOWN_DEVICE (64 hex
digits the mock never issued).
"""

import asyncio
from urllib.parse import urlsplit

from aioapns import APNs, NotificationRequest, PushType
from aioapns.connection import APNsDevelopmentClientProtocol
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from h2.settings import SettingCodes

from common import env, error_outcome, report, run

LIBRARY = "aioapns"
# Pushes in each burst on the first client: enough to queue behind a limit
# of 1, few enough to stay quick.
BURST = 8
# A send on loopback answers in milliseconds; past this the library is stuck
# (reported as a failed case rather than a killed script).
SEND_TIMEOUT = 10


def protocol_for_mock(stream_limits):
    """The protocol class that connects to the mock; each connection appends
    the list of MAX_CONCURRENT_STREAMS values it is announced."""
    url = urlsplit(env("PUSHPROOF_APNS_URL"))

    class MockAPNsProtocol(APNsDevelopmentClientProtocol):
        APNS_SERVER = url.hostname
        APNS_PORT = url.port or 443

        def connection_made(self, transport):
            self.stream_limits = []
            stream_limits.append(self.stream_limits)
            super().connection_made(transport)

        def on_remote_settings_changed(self, changed_settings):
            setting = changed_settings.get(SettingCodes.MAX_CONCURRENT_STREAMS)
            if setting is not None:
                self.stream_limits.append(setting.new_value)
            super().on_remote_settings_changed(changed_settings)

    return MockAPNsProtocol


def client(key, stream_limits, **options):
    apns = APNs(
        key=key,
        key_id=env("PUSHPROOF_APNS_KEY_ID"),
        team_id=env("PUSHPROOF_APNS_TEAM_ID"),
        topic=env("PUSHPROOF_APNS_TOPIC"),
        use_sandbox=True,
        **options,
    )
    apns.pool.protocol_class = protocol_for_mock(stream_limits)
    return apns


def request(device, text, topic=None):
    return NotificationRequest(
        device_token=device,
        message={"aps": {"alert": text}, "nonce": env("INTEROP_NONCE")},
        push_type=PushType.ALERT,
        apns_topic=topic,
    )


async def send(apns, req):
    """What `send_notification` returned for one request, or what it
    raised."""
    try:
        result = await asyncio.wait_for(apns.send_notification(req), SEND_TIMEOUT)
    # Whatever the library raises, a timeout included, is the case's outcome.
    except Exception as error:  # noqa: BLE001
        return error_outcome(error, id=req.notification_id)
    return {
        "ok": result.is_successful,
        "status": int(result.status),
        "reason": result.description,
        "id": req.notification_id,
        # aioapns matches answers to requests by the apns-id the mock echoes.
        "echoed": result.notification_id == req.notification_id,
    }


async def bursts(apns, device):
    """Two bursts of concurrent pushes on one connection: the first before
    the library has read any SETTINGS, the second after the limit was
    raised."""
    outcomes = []
    for burst in range(2):
        outcomes += await asyncio.gather(
            *(send(apns, request(device, f"burst {burst} push {i}")) for i in range(BURST))
        )
    return outcomes


def foreign_key():
    """A P-256 key the mock never issued, as a .p8 PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


async def main():
    with open(env("PUSHPROOF_APNS_KEY_FILE"), encoding="utf-8") as f:
        key = f.read()
    device = env("INTEROP_APNS_DEVICE")
    topic = env("PUSHPROOF_APNS_TOPIC")
    cases = {}

    # One connection, so that every push meets its stream limit.
    limits = []
    first = client(key, limits, max_connections=1)
    try:
        outcomes = await bursts(first, device)
    finally:
        first.pool.close()
    cases["success"] = {
        "ok": all(o["ok"] and o.get("echoed") for o in outcomes),
        "outcomes": outcomes,
        "streamLimits": limits,
    }

    # Rejections, then an accepted push on the same connection (its limit
    # fell to 1 and rises again).
    limits = []
    second = client(key, limits)
    try:
        cases["unknown_device"] = await send(
            second, request(env("INTEROP_APNS_UNKNOWN_DEVICE"), "unknown")
        )
        cases["wrong_topic"] = await send(
            second, request(device, "wrong topic", topic=f"{topic}.other")
        )
        cases["after_rejection"] = await send(second, request(device, "after rejection"))
    finally:
        second.pool.close()
    cases["after_rejection"]["streamLimits"] = limits

    # The right key and team ids, signed with another key: the provider
    # token does not verify.
    stranger = client(foreign_key(), [])
    try:
        cases["foreign_key"] = await send(stranger, request(device, "foreign key"))
    finally:
        stranger.pool.close()

    report(LIBRARY, cases)


if __name__ == "__main__":
    run(main)
