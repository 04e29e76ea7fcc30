"""/p2p remind: channel reminders."""

from __future__ import annotations

from bot.core import reminders
from bot.core.outgoing import channel_problem
from bot.core.services import Services
from commands.context import Context
from commands.replies import Deferred, Reply, TextReply

USAGE = ("Reminders for this channel:\n"
         f"• {reminders.EXAMPLE}\n"
         "• `/p2p remind list`\n"
         "• `/p2p remind remove <id>`\n"
         "Schedules: every day / weekday / monday and thursday … at a time, or a cron expression (`0 9 * * 1-5`).")


def _apply(services: Services) -> None:
    """Put the change into a scheduler running in this process; a separate clock picks it up within 30 s."""
    if services.on_reminders_changed is not None:
        services.on_reminders_changed()


def handle(ctx: Context, args: str) -> Reply | TextReply | Deferred:
    """`/p2p remind add "<when>" <text>` / `remind list` / `remind remove <id>` - reminders in this channel."""
    services = ctx.services
    store = reminders.Reminders(services.store)
    verb, _, rest = args.strip().partition(" ")
    verb = verb.lower()
    channel = ctx.channel_id or "terminal"
    if verb == "add":
        spec, text = reminders.split_args(rest)
        try:
            reminders.parse_schedule(spec, services.settings.timezone)  # a bad schedule is said at once
        except reminders.ScheduleError as exc:
            return TextReply(str(exc))

        def add() -> TextReply:
            if ctx.surface == "slack":  # a reminder that could never be posted is refused now, not at 9:00
                problem = channel_problem(services.slack, channel)
                if problem:
                    return TextReply(f"I didn't set the reminder. {problem}")
            try:
                r = store.add(channel, spec, text, services.settings.timezone, ctx.user_id)
            except reminders.ScheduleError as exc:
                return TextReply(str(exc))
            _apply(services)
            nxt = reminders.next_time(r)
            when = nxt.strftime("%a %d %b %H:%M %Z") if nxt else "never"
            return TextReply(f"Reminder #{r.id} set for this channel, {r.spec} (next: {when}).")

        return Deferred("Setting the reminder…", add) if ctx.surface == "slack" else add()
    if verb in ("list", "ls"):
        items = store.active(channel)
        if not items:
            return TextReply("No reminders in this channel. " + reminders.EXAMPLE)
        lines = []
        for r in items:
            nxt = reminders.next_time(r)
            lines.append(f"#{r.id} {r.spec} (next {nxt.strftime('%a %d %b %H:%M') if nxt else 'never'}): {r.text}")
        return Reply(title="Reminders in this channel", sections=("\n".join(lines),))
    if verb in ("remove", "rm", "delete"):
        raw = rest.strip().lstrip("#")
        if not raw.isdigit():
            return TextReply("Which one? `/p2p remind remove <id>` (see `/p2p remind list`).")
        if store.remove(int(raw), channel):
            _apply(services)
            return TextReply(f"Reminder #{raw} removed.")
        return TextReply(f"There is no reminder #{raw} in this channel.")
    return TextReply(USAGE)
