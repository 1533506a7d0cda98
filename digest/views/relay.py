"""Receivers of django-anymail's webhook signals. Anymail's views (under /mail/, see urls.py)
check the basic auth and the relay's signature and turn each relay's payload into one
normalised event; these only hand that event to the relay_events service."""

from anymail.signals import AnymailInboundEvent, AnymailTrackingEvent, inbound, tracking
from django.dispatch import receiver

from digest.services import relay_events


@receiver(tracking, dispatch_uid="digest.relay.tracking")
def on_tracking(sender: type, event: AnymailTrackingEvent, esp_name: str, **kwargs) -> None:
    if not event.recipient:
        return
    said = " ".join(part for part in (event.description, event.mta_response) if part)
    relay_events.record_event(
        event=relay_events.RelayEvent(
            relay=esp_name,
            recipient=event.recipient,
            verdict=relay_events.verdict(
                event_type=event.event_type,
                reject_reason=event.reject_reason,
                relay_names=relay_events.relay_names(esp_event=event.esp_event),
            ),
            detail=said,
            at=event.timestamp,
        )
    )


@receiver(inbound, dispatch_uid="digest.relay.inbound")
def on_inbound(sender: type, event: AnymailInboundEvent, esp_name: str, **kwargs) -> None:
    message = event.message
    recipients = [address.addr_spec for address in message.to]
    if message.envelope_recipient:
        recipients.append(message.envelope_recipient)
    relay_events.unsubscribe_by_mail(recipients=recipients)
