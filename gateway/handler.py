"""aiosmtpd hooks: thin glue between the protocol engine, the pure policy and the store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor

import structlog
from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway import policy
from gateway.admission import Admission, AdmissionSettings, Admitted, Offer
from gateway.commands import protocol_names
from gateway.intake import Accepted, Arrival, Intake, IntakeStore
from gateway.mailauth import Authenticator
from gateway.peers import peer_name
from gateway.trust import Refuse, TrustSettings
from gateway.users import UserCache
from store import RejectionTally, StoreError

log = structlog.get_logger("gateway")

#: How long a user lookup is trusted for accepting mail (refusals always ask the database again).
USER_CACHE_SECONDS = 60.0

#: The attribute of an aiosmtpd ``Envelope`` holding the user a secret recipient address named (RCPT to DATA).
SECRET_USER = "mailassist_secret_user"  # noqa: S105 - an attribute name, not a secret


class GatewayHandler:
    """RCPT and DATA policy: who may send (``gateway.admission``), then the message handed to the intake
    (``gateway.intake``), whose answer is the reply."""

    def __init__(
        self,
        *,
        intake: IntakeStore,
        recipients: policy.RecipientPolicy,
        executor: Executor,
        enqueue: Callable[[Sequence[str]], None],
        max_recipients: int = 20,
        store_timeout: float = 30.0,
        user_cache_seconds: float = USER_CACHE_SECONDS,
        storage_process: bool = False,
        trust: AdmissionSettings | None = None,
        authenticator: Authenticator | None = None,
    ) -> None:
        self.recipients = recipients
        self.executor = executor
        self.max_recipients = max_recipients
        self.store_timeout = store_timeout
        self.users = UserCache(intake.directory.find_users_by_addresses, ttl=user_cache_seconds)
        # Who submitted each message, and what proves it (DESIGN.md invariant 8), before anything is stored.
        self.admission = Admission(
            recipients=recipients,
            users=self.users,
            find_token_user=intake.auth.find_user_by_assistant_token,
            authenticator=authenticator,
            settings=trust or AdmissionSettings(TrustSettings()),
        )
        self.intake = Intake(
            intake, executor=executor, enqueue=enqueue, storage_process=storage_process, store_timeout=store_timeout
        )
        # Refused mail leaves no inbound row: /metrics counts refusals, written in batches on the storage threads.
        self._rejections = RejectionTally(intake.metrics.add_rejections, executor.submit)

    def __dir__(self) -> list[str]:
        return protocol_names(type(self))

    def count_refusal(self, reply: str, reason: str) -> None:
        """Count one refusal for ``/metrics`` by its reply code and a short reason (``not_aligned``,
        ``data_timeout``…). Cheap and never raises: safe on the event loop."""
        self._rejections.add(reply, reason)

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        """aiosmtpd's EHLO reply without ``AUTH``: nobody logs in to this gateway (submitters prove themselves per
        message), so advertising it after STARTTLS would only invite password guessing."""
        session.host_name = hostname
        return [line for line in responses if not line[4:].upper().startswith("AUTH")]

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        refusal = policy.too_many_recipients(len(envelope.rcpt_tos), self.max_recipients) or self.recipients.check(
            address
        )
        reason = "too_many_recipients" if refusal and refusal.startswith("452") else "unknown_recipient"
        token = self.recipients.token_of(address) if refusal is None else None
        if token is not None:
            # A secret address is checked here, before a DATA slot is taken, and never cached: a rotated token
            # stops working at once.
            user = await asyncio.get_running_loop().run_in_executor(self.executor, self.admission.secret_user, token)
            if user is None:
                refusal, reason = policy.unknown_personal_address(address), "unknown_secret_address"
            elif getattr(envelope, SECRET_USER, None) is None:
                setattr(envelope, SECRET_USER, user)
        if refusal:
            log.info(
                "smtp rcpt refused",
                peer=peer_name(session.peer),
                rcpt=address,
                mail_from=envelope.mail_from,
                why=reason,
            )
            self.count_refusal(refusal, reason)
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """The trust verdict on the message, then the message stored and queued: 250 only once it is durable."""
        raw = envelope.original_content or b""
        mail_from = envelope.mail_from or ""
        peer = peer_name(session.peer)
        started = time.perf_counter()
        try:
            admitted = await self._admit(raw, mail_from, envelope, peer, session.host_name)
        except Exception:
            log.exception("smtp trust check crashed", peer=peer, mail_from=mail_from, size=len(raw))
            return policy.TEMPORARY_FAILURE
        if isinstance(admitted, Refuse):
            log.info(
                "smtp data refused",
                peer=peer,
                mail_from=mail_from,
                rcpt_tos=envelope.rcpt_tos,
                size=len(raw),
                why=admitted.reason,
                reply=admitted.reply,
            )
            self.count_refusal(admitted.reply, admitted.reason)
            return admitted.reply
        arrival = Arrival(
            raw,
            mail_from,
            list(envelope.rcpt_tos),
            peer,
            session.host_name,
            time.monotonic() + self.store_timeout,
            admitted.trust,
            admitted.verdict.via,
        )
        result = await self._store(arrival)
        if isinstance(result, str):  # the 451 of a store that failed
            return result
        log.info(
            "smtp accepted",
            inbound_id=result.inbound_id,
            peer=peer,
            mail_from=mail_from,
            rcpt_tos=list(result.rcpt_tos),
            size=result.size,
            sha256=result.sha256[:16],
            submitter=result.submitter,
            via=result.via,
            proof=admitted.verdict.proof,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return f"250 2.0.0 Ok: queued as {result.inbound_id}"

    async def _store(self, arrival: Arrival) -> Accepted | str:
        """``arrival`` committed by the intake: its receipt, or the 451 to answer when that failed (logged)."""
        peer, mail_from, size = arrival.peer, arrival.mail_from, len(arrival.raw)
        try:
            # A hung database must not hang the session: past store_timeout the sender hears 451 and retries.
            async with asyncio.timeout(self.store_timeout):
                return await self.intake.submit(arrival)
        except TimeoutError:
            log.error("smtp store timed out", peer=peer, mail_from=mail_from, size=size, seconds=self.store_timeout)
        except StoreError as exc:
            log.error("smtp store failed", peer=peer, mail_from=mail_from, size=size, error=str(exc))
        except Exception:
            log.exception("smtp intake crashed", peer=peer, mail_from=mail_from, size=size)
        return policy.TEMPORARY_FAILURE

    async def _admit(
        self, raw: bytes, mail_from: str, envelope: Envelope, peer: str | None, helo: str | None
    ) -> Admitted | Refuse:
        """The trust verdict: on the event loop when caches can answer, else on a blob thread (database, DNS)."""
        offer = Offer(raw, mail_from, list(envelope.rcpt_tos), peer, helo, getattr(envelope, SECRET_USER, None))
        quick = self.admission.quick(offer)
        if quick is not None:
            return quick
        return await asyncio.get_running_loop().run_in_executor(self.executor, self.admission.admit, offer)

    def start(self) -> None:
        """Start the storage process, if there is one (before serving, so it forks from a quiet process)."""
        self.intake.start()

    async def wait_enqueued(self, timeout: float) -> bool:
        """Wait for queue sends still pending (up to ``timeout``), then stop; True if all finished in time."""
        return await self.intake.stop(timeout)

    async def handle_exception(self, error: Exception) -> str:
        log.error("smtp session error", error=repr(error))
        return "451 4.3.0 Internal server error"
