"""FCM HTTP v1 through the Python firebase-admin (`messaging.send`, over
requests and google-auth): one accepted push, a dry run, and the main
rejections, each as the library reports it.

The token: google-auth's service-account credentials post the JWT-bearer
assertion to the `token_uri` of the service-account JSON, which is the
mock's, so the token request needs no redirection.

The sends: firebase-admin 7.7.0 has no option or emulator variable for the
FCM endpoint; each app's messaging service formats its send URL from the
class attribute `_MessagingService.FCM_URL`
(https://fcm.googleapis.com/v1/projects/{0}/messages:send) when the app
first sends. The script points that one template at the mock before any
send: the smallest change that leaves the library's request building,
authorization and error mapping as they are. (Its HTTP adapter with retries
is mounted for fcm.googleapis.com only, so sends to the mock are not
retried; no case here is retried by FCM's rules anyway.)

Devices are addressed with `Message.fid` (Firebase installation ids),
which firebase-admin 7.7.0 prefers to the deprecated `Message.token`; a
mock device's handle works as either.

Inputs: PUSHPROOF_FCM_{URL,PROJECT_ID,CREDENTIALS}, INTEROP_NONCE,
INTEROP_FCM_DEVICE (registered), INTEROP_FCM_UNKNOWN_DEVICE (never issued).
"""

import firebase_admin
from firebase_admin import credentials, exceptions, messaging

from common import env, error_outcome, report, run

LIBRARY = "firebase-admin"

def message(fid, text):
    return messaging.Message(
        fid=fid,
        notification=messaging.Notification(title="pushproof", body=text),
        data={"nonce": env("INTEROP_NONCE")},
    )


def send(app, msg, dry_run=False):
    """The message name `send` returned, or the FirebaseError it raised."""
    try:
        return {"ok": True, "name": messaging.send(msg, dry_run=dry_run, app=app)}
    except exceptions.FirebaseError as error:
        response = error.http_response
        return error_outcome(
            error,
            code=error.code,
            httpStatus=None if response is None else response.status_code,
        )


def main():
    messaging._MessagingService.FCM_URL = (  # pylint: disable=protected-access
        env("PUSHPROOF_FCM_URL") + "/v1/projects/{0}/messages:send"
    )
    credential = credentials.Certificate(env("PUSHPROOF_FCM_CREDENTIALS"))
    app = firebase_admin.initialize_app(
        credential, {"projectId": env("PUSHPROOF_FCM_PROJECT_ID")}, name="pushproof"
    )
    # A project the service account does not belong to: the send is refused
    # though the token is valid.
    stranger = firebase_admin.initialize_app(
        credential, {"projectId": "another-project"}, name="stranger"
    )
    device = env("INTEROP_FCM_DEVICE")
    cases = {}
    try:
        cases["success"] = send(app, message(device, "accepted"))
        cases["dry_run"] = send(app, message(device, "dry run"), dry_run=True)
        cases["unknown_device"] = send(
            app, message(env("INTEROP_FCM_UNKNOWN_DEVICE"), "unknown")
        )
        cases["wrong_project"] = send(stranger, message(device, "wrong project"))
    finally:
        firebase_admin.delete_app(app)
        firebase_admin.delete_app(stranger)
    report(LIBRARY, cases)


if __name__ == "__main__":
    run(main)
