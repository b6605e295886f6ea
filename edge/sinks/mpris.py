"""MPRIS sink: control a media player on the D-Bus session bus (mpv, VLC, Kodi, browsers, Spotify...).

Blocking jeepney calls, each bounded by `MprisSettings.timeout_s`; the sink runs on its own worker thread
(see `edge.sinks.dispatch.Dispatcher`), never on the frame loop.

Which player: `MprisSettings.player` when set: a full bus name (`org.mpris.MediaPlayer2.vlc`: exactly that
one), or the part after `org.mpris.MediaPlayer2.` (`mpv` matches `mpv` and its instances `mpv.instance1234`;
when nothing matches that way, any name starting with it: `spot` -> `spotify`). A player that owns several
names (VLC: `vlc` and `vlc.instance<PID>`) is one candidate, under its first name (by `GetNameOwner`), so a
frozen player costs one timeout per action, not one per name. Among the candidates (every player when
`player` is empty): the one that is Playing, else the one most recently seen Playing or controlled by us,
else the first by name; a player that does not answer the status query is only chosen when every one is
silent. `playerctld` (a proxy for other players) is ignored.

Resume: a `play` goes to the player that we paused or stopped (pause, stop, or play_pause on a Playing
player) within the last `MprisSettings.resume_window_s`, even when another player is Playing, unless a
player that was not Playing at that pause has started since (the user moved on to something else).

Volume: MPRIS volume is nominally 0..1; some players allow more (VLC up to 2.5, mpv 1.3). volume_up stops at
1.0 but never lowers a volume that is above it already; volume_down and mute only go down, to at least 0.
`mute` sets the volume to 0 and remembers the previous volume; a second `mute` while the volume is still 0
restores it.

Failures never raise: one log line per dropped/failed action, counted, and the next action reconnects.
Gesture names and texts from players go into log lines through `printable`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any, Callable

from edge.events import GestureEvent
from edge.settings import MprisSettings
from edge.sinks.base import new_counters, printable

logger = logging.getLogger(__name__)

MPRIS_PREFIX = "org.mpris.MediaPlayer2."
MPRIS_PATH = "/org/mpris/MediaPlayer2"
PLAYER_IFACE = "org.mpris.MediaPlayer2.Player"
IGNORED_PLAYERS = (MPRIS_PREFIX + "playerctld",)

METHODS = {
    "play": "Play",
    "pause": "Pause",
    "play_pause": "PlayPause",
    "stop": "Stop",
    "next": "Next",
    "previous": "Previous",
}
VOLUME_ACTIONS = ("volume_up", "volume_down", "mute")
PAUSING_ACTIONS = ("pause", "stop")
"""Actions after which the next `play` resumes this player (play_pause too, when it was Playing)."""

# Errors that mean "the player is gone" rather than "the player failed".
_VANISHED_ERRORS = ("org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner")


class _Drop(Exception):
    """The action was not attempted (no such player, player refuses control...)."""


class _Fail(Exception):
    """The action was attempted and failed."""


def session_bus_address(environ: dict[str, str] | None = None) -> str | None:
    """The session bus address: DBUS_SESSION_BUS_ADDRESS, else $XDG_RUNTIME_DIR/bus (systemd's user bus)."""
    env = os.environ if environ is None else environ
    address = env.get("DBUS_SESSION_BUS_ADDRESS", "").strip()
    if address:
        return address
    runtime_dir = env.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    path = os.path.join(runtime_dir, "bus")
    return f"unix:path={path}" if os.path.exists(path) else None


def _open_connection(address: str, timeout_s: float) -> Any:
    """A blocking jeepney connection whose authentication *and* Hello are bounded by `timeout_s` together.

    Public jeepney API only: `open_dbus_connection` bounds authentication (`auth_timeout`) but then waits for
    the bus's Hello reply without a limit, so it runs on a helper thread; a bus that has not answered within
    `timeout_s` raises TimeoutError here, and the helper closes the connection if it ever arrives.
    """
    from jeepney.io.blocking import open_dbus_connection

    lock = threading.Lock()
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def connect() -> None:
        try:
            conn = open_dbus_connection(bus=address, auth_timeout=timeout_s)
        except BaseException as exc:  # noqa: BLE001 - handed over to the caller
            with lock:
                outcome["error"] = exc
        else:
            with lock:
                if outcome.get("abandoned"):
                    conn.close()
                else:
                    outcome["conn"] = conn
        done.set()

    threading.Thread(target=connect, name="mpris-connect", daemon=True).start()
    done.wait(timeout_s)
    with lock:
        if "conn" in outcome:
            return outcome["conn"]
        if "error" in outcome:
            raise outcome["error"]
        outcome["abandoned"] = True
    raise TimeoutError(f"no answer within {timeout_s:g} s")


def short_name(bus_name: str) -> str:
    """`org.mpris.MediaPlayer2.mpv.instance12` -> `mpv.instance12` (for log lines)."""
    return bus_name[len(MPRIS_PREFIX):] if bus_name.startswith(MPRIS_PREFIX) else bus_name


class MprisSink:
    """Sends actions to an MPRIS media player on the session bus."""

    name = "mpris"

    def __init__(self, settings: MprisSettings, *, bus_address: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.counters = new_counters()
        self._bus_address = bus_address
        self._clock = clock
        self._conn: Any = None
        self._last_active: dict[str, float] = {}
        """bus name -> when we last saw it Playing or controlled it."""
        self._volume_before_mute: dict[str, float] = {}
        self._paused: tuple[str, float, frozenset[str]] | None = None
        """(bus name, when, the other players Playing then) of the last player we paused or stopped."""
        self.last_player: str | None = None
        """The bus name the last action went to (for status lines and tests)."""

    # -- Sink API -------------------------------------------------------------------------------------
    def start(self) -> None:
        """Connect early so the first gesture is fast; failing here is fine (the next action retries)."""
        try:
            self._connection()
        except _Drop as exc:
            logger.warning("mpris: %s; will retry on the next action", exc)

    def handle(self, event: GestureEvent) -> None:
        """Send `event.action` to the chosen player; never raises for bus or player problems."""
        action, gesture = event.action, printable(event.gesture)
        if action not in METHODS and action not in VOLUME_ACTIONS:
            self._drop(action, gesture, f"action {action!r} has no MPRIS equivalent")
            return
        for attempt in (1, 2):
            had_connection = self._conn is not None
            try:
                conn = self._connection()
                player, detail = self._perform(conn, action)
            except _Drop as exc:
                self._drop(action, gesture, str(exc))
                return
            except _Fail as exc:
                self._fail(action, gesture, str(exc))
                return
            except TimeoutError:
                # The bus daemon itself did not answer: start afresh next time.
                self._disconnect()
                self._fail(action, gesture, f"the session bus did not answer within {self.settings.timeout_s:g} s")
                return
            except (OSError, EOFError, ValueError) as exc:
                # Stale connection (bus restarted, user session re-logged): reconnect once right away.
                self._disconnect()
                if attempt == 1 and had_connection:
                    logger.info("mpris: lost the session bus connection (%s), reconnecting", exc)
                    continue
                self._drop(action, gesture, f"session bus connection failed: {type(exc).__name__}: {exc}")
                return
            self.counters["sent"] += 1
            logger.info("mpris: %s (%s) -> %s%s", action, gesture, short_name(player), detail)
            return

    def close(self) -> None:
        """Close the bus connection."""
        self._disconnect()

    # -- connection -------------------------------------------------------------------------------------
    def _connection(self) -> Any:
        if self._conn is not None:
            return self._conn
        address = self._bus_address or session_bus_address()
        if not address:
            raise _Drop("no session bus: DBUS_SESSION_BUS_ADDRESS is not set and $XDG_RUNTIME_DIR/bus does "
                        "not exist (run as a user service of the user whose players you want to control)")
        try:
            self._conn = _open_connection(address, self.settings.timeout_s)
        except TimeoutError:
            raise _Drop(f"the session bus at {address} did not answer within {self.settings.timeout_s:g} s") \
                from None
        except (OSError, RuntimeError, ValueError, EOFError) as exc:
            raise _Drop(f"cannot connect to the session bus at {address}: {type(exc).__name__}: {exc}") from None
        logger.info("mpris: connected to the session bus at %s", address)
        return self._conn

    def _disconnect(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except OSError:
                pass
            self._conn = None

    def _call(self, conn: Any, msg: Any) -> tuple:
        from jeepney.wrappers import unwrap_msg

        return unwrap_msg(conn.send_and_get_reply(msg, timeout=self.settings.timeout_s))

    # -- players ----------------------------------------------------------------------------------------
    def _list_players(self, conn: Any) -> list[str]:
        from jeepney.bus_messages import message_bus

        (names,) = self._call(conn, message_bus.ListNames())
        return sorted(n for n in names if n.startswith(MPRIS_PREFIX) and n not in IGNORED_PLAYERS)

    def _get(self, conn: Any, player: str, prop: str, iface: str = PLAYER_IFACE) -> Any:
        from jeepney import DBusAddress
        from jeepney.wrappers import Properties

        ((_sig, value),) = self._call(conn, Properties(DBusAddress(MPRIS_PATH, player, iface)).get(prop))
        return value

    def _status(self, conn: Any, player: str) -> str | None:
        from jeepney.wrappers import DBusErrorResponse

        try:
            return str(self._get(conn, player, "PlaybackStatus"))
        except (DBusErrorResponse, TimeoutError):
            return None  # vanished or hung: not a candidate worth waiting for

    def _matches(self, players: list[str]) -> list[str]:
        wanted = self.settings.player.strip()
        if wanted.startswith(MPRIS_PREFIX):
            return [p for p in players if p == wanted]  # a full bus name means exactly that player
        # "mpv" means every mpv: mpv-mpris names the first one `mpv`, later ones `mpv.instance<PID>`.
        family = [p for p in players if short_name(p) == wanted or short_name(p).startswith(wanted + ".")]
        return family or [p for p in players if short_name(p).startswith(wanted)]

    def _one_per_owner(self, conn: Any, players: list[str]) -> list[str]:
        """The first name (by name order) of each unique bus owner: VLC owns `vlc` and `vlc.instance<PID>`."""
        from jeepney.bus_messages import message_bus
        from jeepney.wrappers import DBusErrorResponse

        owners: set[str] = set()
        unique = []
        for player in players:
            try:
                (owner,) = self._call(conn, message_bus.GetNameOwner(player))
            except DBusErrorResponse:
                continue  # left the bus since ListNames
            if owner not in owners:
                owners.add(owner)
                unique.append(player)
        return unique

    def choose_player(self, conn: Any, players: list[str], action: str = "") -> tuple[str, frozenset[str]]:
        """The player `action` goes to (see the module docstring) and the candidates seen Playing (only asked
        when there is more than one); raises _Drop when there is none."""
        if not players:
            raise _Drop("no MPRIS player on the session bus (is a player running, as this user?)")
        candidates = players
        if self.settings.player:
            candidates = self._matches(players)
            if not candidates:
                raise _Drop(f"no MPRIS player matches sinks.mpris.player = {self.settings.player!r} "
                            f"(players on the bus: {', '.join(short_name(p) for p in players)})")
        candidates = self._one_per_owner(conn, candidates)
        if not candidates:
            raise _Drop("no MPRIS player on the session bus (is a player running, as this user?)")
        if len(candidates) == 1:
            return candidates[0], frozenset()
        now = self._clock()
        statuses = {player: self._status(conn, player) for player in candidates}
        playing = [p for p in candidates if statuses[p] == "Playing"]
        for player in playing:
            self._last_active[player] = now
        # A player that did not answer its status is hung (or gone): it would cost a second timeout.
        answering = [p for p in candidates if statuses[p] is not None] or candidates
        if action == "play":
            resumed = self._to_resume(answering, playing, now)
            if resumed is not None:
                return resumed, frozenset(playing)
        pool = playing or [p for p in answering if p in self._last_active] or answering
        # Most recently active first; ties (and never-seen players) keep name order.
        return max(pool, key=lambda p: (self._last_active.get(p, float("-inf")), -pool.index(p))), \
            frozenset(playing)

    def _to_resume(self, candidates: list[str], playing: list[str], now: float) -> str | None:
        """The player a `play` resumes: the one we paused within the window, unless the user moved on."""
        if self._paused is None:
            return None
        player, paused_at, playing_then = self._paused
        if (player not in candidates or player in playing or self.settings.resume_window_s <= 0
                or now - paused_at > self.settings.resume_window_s):
            return None
        if any(p not in playing_then for p in playing):
            return None  # something started playing after our pause: the user's newer choice wins
        return player

    # -- actions ----------------------------------------------------------------------------------------
    def _perform(self, conn: Any, action: str) -> tuple[str, str]:
        from jeepney import DBusAddress, new_method_call
        from jeepney.wrappers import DBusErrorResponse, Properties

        try:
            players = self._list_players(conn)
        except DBusErrorResponse as exc:
            raise _Fail(f"the bus refused ListNames: {exc.name}") from None
        player, playing = self.choose_player(conn, players, action)
        try:
            try:
                can_control = bool(self._get(conn, player, "CanControl"))
            except DBusErrorResponse as exc:
                if exc.name in _VANISHED_ERRORS:
                    raise
                can_control = True  # property not implemented: assume controllable
            if not can_control:
                raise _Drop(f"player {short_name(player)} reports CanControl = false")
            detail = ""
            if action in METHODS:
                self._call(conn, new_method_call(DBusAddress(MPRIS_PATH, player, PLAYER_IFACE), METHODS[action]))
            else:
                before = float(self._get(conn, player, "Volume"))
                after = self._new_volume(player, action, before)
                self._call(conn, Properties(DBusAddress(MPRIS_PATH, player, PLAYER_IFACE)).set("Volume", "d", after))
                detail = f" (volume {before:.2f} -> {after:.2f})"
        except DBusErrorResponse as exc:
            if exc.name in _VANISHED_ERRORS:
                self._forget(player)
                raise _Drop(f"player {short_name(player)} vanished") from None
            raise _Fail(f"player {short_name(player)} answered {exc.name}: {printable(_first(exc.data))}") \
                from None
        except TimeoutError:
            raise _Fail(f"player {short_name(player)} did not answer within {self.settings.timeout_s:g} s") \
                from None
        now = self._clock()
        self._last_active[player] = now
        self.last_player = player
        if action in PAUSING_ACTIONS or (action == "play_pause" and player in playing):
            self._paused = (player, now, playing - {player})
        elif action in ("play", "play_pause") and self._paused is not None and self._paused[0] == player:
            self._paused = None
        return player, detail

    def _new_volume(self, player: str, action: str, before: float) -> float:
        step = self.settings.volume_step
        if action == "volume_up":
            # The ceiling is 1.0, or the current level when the player allows more (VLC at 125 %).
            return max(0.0, min(before + step, max(1.0, before)))
        if action == "volume_down":
            return max(0.0, before - step)
        # mute: a second mute (volume still 0) restores what the first one saved.
        saved = self._volume_before_mute.pop(player, None)
        if saved is not None and before <= 1e-6:
            return max(0.0, saved)
        if before > 1e-6:
            self._volume_before_mute[player] = before
        return 0.0

    def _forget(self, player: str) -> None:
        self._last_active.pop(player, None)
        self._volume_before_mute.pop(player, None)
        if self._paused is not None and self._paused[0] == player:
            self._paused = None

    # -- accounting -------------------------------------------------------------------------------------
    def _drop(self, action: str, gesture: str, why: str) -> None:
        self.counters["dropped"] += 1
        logger.warning("mpris: dropped %s (%s): %s", action, gesture, why)

    def _fail(self, action: str, gesture: str, why: str) -> None:
        self.counters["failed"] += 1
        logger.warning("mpris: %s (%s) failed: %s", action, gesture, why)


def _first(data: Any) -> str:
    if isinstance(data, tuple) and data:
        return str(data[0])
    return str(data)
