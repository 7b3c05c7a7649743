"""APNs through pyapns-client, unmodified, at Apple's own host: the
library pins https://api.development.push.apple.com:443 (dev mode) and
signs its provider token with `"iat": time.time()`, a fractional number;
the name resolves to the mocks' host-impersonation listener inside this
process (a `socket.getaddrinfo` override, as a hosts entry would outside
it; the port is the mock's, as a test binds no fixed port). Cases: an
alert push, a background push (`apns-push-type: background`, priority 5,
`content-available`), and an unknown device, each as the library reports
it. The library is given the mocks' CA file (its `root_cert_path`).

Inputs: PUSHPROOF_{CA_FILE,APNS_KEY_FILE,APNS_KEY_ID,APNS_TEAM_ID,APNS_TOPIC},
INTEROP_NONCE, INTEROP_IMPERSONATION (host:port of the listener),
INTEROP_APNS_DEVICE (registered), INTEROP_APNS_UNKNOWN_DEVICE (64 hex
digits the mock never issued).
"""

import socket

from pyapns_client import (
    APNSClient,
    APNSException,
    IOSNotification,
    IOSPayload,
    IOSPayloadAlert,
)

from common import env, error_outcome, report, run

LIBRARY = "pyapns-client"
APPLE_HOSTS = {"api.development.push.apple.com", "api.push.apple.com"}


def resolve_to_mock(mock):
    """Sends connections to Apple's hosts on port 443 to `mock`."""
    host, _, port = mock.rpartition(":")
    original = socket.getaddrinfo

    def getaddrinfo(name, service, *args, **kwargs):
        if name in APPLE_HOSTS and str(service) == "443":
            return original(host.strip("[]"), int(port), *args, **kwargs)
        return original(name, service, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo


def push(client, notification, device):
    """What `push` did: returned (accepted) or raised."""
    try:
        client.push(notification=notification, device_token=device)
    except APNSException as error:  # the library's own rejections
        return error_outcome(error, status=getattr(error, "status_code", None))
    return {"ok": True}


def main():
    resolve_to_mock(env("INTEROP_IMPERSONATION"))
    topic = env("PUSHPROOF_APNS_TOPIC")
    device = env("INTEROP_APNS_DEVICE")
    nonce = env("INTEROP_NONCE")
    client = APNSClient(
        mode=APNSClient.MODE_DEV,
        root_cert_path=env("PUSHPROOF_CA_FILE"),
        auth_key_path=env("PUSHPROOF_APNS_KEY_FILE"),
        auth_key_id=env("PUSHPROOF_APNS_KEY_ID"),
        team_id=env("PUSHPROOF_APNS_TEAM_ID"),
    )
    cases = {}
    try:
        alert = IOSPayload(alert=IOSPayloadAlert(body="accepted"), custom={"nonce": nonce})
        cases["alert"] = push(
            client, IOSNotification(payload=alert, topic=topic, push_type="alert"), device
        )
        background = IOSPayload(content_available=True, custom={"secureId": nonce})
        cases["background"] = push(
            client,
            # httpx takes header values as text; the library's constant
            # PRIORITY_LOW is the number 5.
            IOSNotification(
                payload=background,
                topic=topic,
                priority=str(IOSNotification.PRIORITY_LOW),
                push_type=IOSNotification.PUSH_TYPE_BACKGROUND,
            ),
            device,
        )
        cases["unknown_device"] = push(
            client,
            IOSNotification(payload=alert, topic=topic, push_type="alert"),
            env("INTEROP_APNS_UNKNOWN_DEVICE"),
        )
    finally:
        client.close()
    report(LIBRARY, cases)


if __name__ == "__main__":
    run(main)
