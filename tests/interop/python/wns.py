"""WNS through django-push-notifications (`push_notifications.wns`, the WNS
sender of the maintained Django push app, over urllib): raw and toast
pushes with the token it fetches, and the main rejections, each as the
library reports it.

The library needs Django's settings but neither a database nor a project:
the script configures only PUSH_NOTIFICATIONS_SETTINGS. Its documented
WNS_ACCESS_URL setting points the token request at the mock (the default
is https://login.live.com/accesstoken.srf); pushes go to the channel URI
as given, which is the mock's. urllib checks the mock's certificate against
SSL_CERT_FILE. The library fetches a new token for every push.

Inputs: PUSHPROOF_WNS_{TOKEN_URL,CLIENT_ID,CLIENT_SECRET}, INTEROP_NONCE,
INTEROP_WNS_CHANNEL (registered), INTEROP_WNS_UNKNOWN_CHANNEL (a channel
URI on the mock the mock never issued).
"""

from django.conf import settings

from common import env, error_outcome, report, run

LIBRARY = "django-push-notifications"


def send(wns, **message):
    """What `wns_send_message` returned (the response body), or what it
    raised."""
    try:
        return {"ok": True, "body": wns.wns_send_message(**message)}
    except wns.WNSError as error:
        return error_outcome(error)


def main():
    settings.configure(
        PUSH_NOTIFICATIONS_SETTINGS={
            "WNS_PACKAGE_SECURITY_ID": env("PUSHPROOF_WNS_CLIENT_ID"),
            "WNS_SECRET_KEY": env("PUSHPROOF_WNS_CLIENT_SECRET"),
            "WNS_ACCESS_URL": env("PUSHPROOF_WNS_TOKEN_URL"),
        }
    )
    # Imported once the settings exist: the module reads them on import.
    from push_notifications import wns  # pylint: disable=import-outside-toplevel

    channel = env("INTEROP_WNS_CHANNEL")
    nonce = env("INTEROP_NONCE")
    cases = {
        "raw": send(wns, uri=channel, raw_data=f"raw {nonce}"),
        # A plain message becomes a ToastText01 toast.
        "toast": send(wns, uri=channel, message=f"toast {nonce}"),
        "unknown_channel": send(
            wns, uri=env("INTEROP_WNS_UNKNOWN_CHANNEL"), raw_data=f"unknown {nonce}"
        ),
    }
    # The library reads its settings at every push: a deployment with the
    # wrong secret.
    settings.PUSH_NOTIFICATIONS_SETTINGS["WNS_SECRET_KEY"] = "not-the-secret"
    cases["wrong_secret"] = send(wns, uri=channel, raw_data=f"wrong secret {nonce}")
    report(LIBRARY, cases)


if __name__ == "__main__":
    run(main)
