"""The watcher process of one repository: `python -m mlvc.fsmonitor.daemon ROOT [FOLDER...]`.

It holds a walked DirNode tree (mlvc.workspace.walk) for each tracked folder it was asked about
and watches every folder of it with inotify. An event marks its folder dirty, and that folder is
not watched again until it is listed again: one event per folder is enough to know, and an add
of 50,000 files would otherwise queue 50,000. A question is answered once its cookie's event has
been read (so every earlier change has been too): dirty folders are listed again, parents first,
keeping each subfolder that is still the same folder (same inode, not named by an event), and
the folders above them are signed again. Listing and signing are the walker's own code, so a
signature is the one `status` would have walked to.

It exits on `mlvc fsmonitor stop`, when its own folder (`.mlvc/tmp/fsmonitor/`) goes away
(the repository was deleted or moved), or after IDLE_EXIT_S without a question.
"""

from __future__ import annotations

import fcntl
import json
import os
import selectors
import socket
import sys
import time
from collections.abc import Callable
from functools import partial

from mlvc.errors import MlvcError
from mlvc.fsmonitor import inotify
from mlvc.fsmonitor.protocol import COOKIE_PREFIX, LOCK, PID, PROTOCOL, Address, cookie_folder, folder, send
from mlvc.ignore import MLVCIGNORE, IgnoreRules
from mlvc.workspace.walk import DirNode, list_folder, resign

IDLE_EXIT_S = 6 * 3600
# A folder the watcher does not know yet, or whose files mostly changed, is not walked while the
# question waits (that costs the asking status more than its own walk on all CPUs): the answer
# leaves it out, and the walk comes once no command has asked anything for this long (a script's
# statuses, one after another, each walk on all CPUs undisturbed).
WALK_DELAY_S = 0.5
COOKIE_WAIT_S = 5.0
FOLDER_MASK = inotify.CHANGES | inotify.SELF | inotify.IN_ONLYDIR | inotify.IN_EXCL_UNLINK
LINK_MASK = inotify.CHANGES | inotify.SELF  # the file behind a symbolic link, wherever it lives
GONE = inotify.SELF | inotify.IN_IGNORED
UNWATCHED = -1  # in place of a dirty folder's watch (`Watcher._unwatch_dirty`)


class Watcher:
    """The watched listings of one repository's tracked folders (no sockets, no event loop)."""

    def __init__(self, root: str, notify: inotify.Inotify) -> None:
        self.root = root
        self.notify = notify
        self.trees: dict[str, DirNode] = {}  # tracked folder -> its walked tree
        self.nodes: dict[str, tuple[str, DirNode]] = {}  # folder -> (its tracked folder, node)
        self.rules: dict[str, IgnoreRules] = {}  # folder -> the ignore rules it was listed with
        self.identity: dict[str, tuple[int, int]] = {}  # folder -> (device, inode) when walked
        self.wds_of: dict[str, list[int]] = {}  # folder -> its watch and those of linked files in it
        self.folders_of: dict[int, set[str]] = {}  # watch -> the folders whose listing it shows
        self.paths_of: dict[int, set[tuple[str, str]]] = {}  # watch -> (tracked folder, next name on its path)
        self.above: dict[str, list[int]] = {}  # tracked folder -> watches of the folders above it
        self.dirty: dict[str, set[str]] = {}  # folder -> names of entries added or removed in it
        self.overflows = 0
        self.on_folder: Callable[[], None] = _nothing  # the server answers questions meanwhile

    # -- events ---------------------------------------------------------------
    def handle(self, wd: int, mask: int, name: str) -> None:
        if mask & inotify.IN_Q_OVERFLOW:
            self.overflows += 1  # events were lost: nothing seen so far can be vouched for
            for target in list(self.trees):
                self.forget(target)
            return
        for rel in list(self.folders_of.get(wd, ())):
            if rel not in self.nodes:
                continue
            target = self.nodes[rel][0]
            if mask & GONE and not name and self.wds_of[rel][0] == wd:  # the folder itself went
                if rel == target:
                    self.forget(target)
                else:  # its parent lists it again (also when it was a linked folder's target)
                    parent, _, base = rel.rpartition("/")
                    self.dirty.setdefault(parent, set()).add(base)
                continue
            if name == MLVCIGNORE:
                self.forget(target)  # the rules of the folders below changed
                continue
            if rel not in self.dirty:
                self.dirty[rel] = set()
                self._unwatch_dirty(rel, wd)
            if name and mask & inotify.STRUCTURE:
                self.dirty[rel].add(name)
        for target, step in list(self.paths_of.get(wd, ())):
            if name in (step, MLVCIGNORE) or mask & GONE:
                self.forget(target)  # the path to it or the rules above it changed: walk it anew
        if mask & inotify.IN_IGNORED:
            self.folders_of.pop(wd, None)
            self.paths_of.pop(wd, None)

    # -- questions ------------------------------------------------------------
    def signature(self, target: str) -> str | None:
        """The listing signature of tracked folder `target` now; None where it cannot be listed
        (gone, not a folder, unreadable: the caller's own walk says what is wrong)."""
        parts = target.split("/")
        if not target or target.startswith("/") or any(p in ("", ".", "..", ".mlvc", ".git") for p in parts):
            return None
        try:
            if target in self.trees:
                self._refresh(target)
            else:
                self.trees[target] = self._walk_target(target)
            return self.trees[target].sig
        except (OSError, MlvcError):
            self.forget(target)
            return None

    def mostly_dirty(self, target: str) -> bool:
        """Do folders holding most of `target`'s files wait to be listed again (an add by
        hardlink chmods every file)? The asker's own walk, on all CPUs, is then the faster one."""
        dirty = total = 0
        for d in self.trees[target].iter_dirs():
            files = d._names.count("\0") + 1 if d._names else 0
            total += files
            if d.rel in self.dirty:
                dirty += files
        return dirty * 2 > total

    def forget(self, target: str) -> None:
        """Drop what is known of `target`: the next question walks it again."""
        self.trees.pop(target, None)
        for rel in [rel for rel, (of, _) in self.nodes.items() if of == target]:  # a failed walk's too
            self._drop_folder(rel)
        for wd in self.above.pop(target, ()):
            paths = self.paths_of.get(wd)
            if paths is not None:
                paths -= {p for p in paths if p[0] == target}
                self._release(wd)

    def info(self) -> dict[str, object]:
        return {
            "folders_watched": len(self.nodes),
            "tracked": sorted(self.trees),
            "dirty": len(self.dirty),
            "overflows": self.overflows,
        }

    # -- walking --------------------------------------------------------------
    def _walk_target(self, target: str) -> DirNode:
        parts = target.split("/")
        watches = self.above.setdefault(target, [])
        for i, step in enumerate(parts):  # the folders above: a rename or a new .mlvcignore there
            wd = self.notify.add_watch(os.path.join(self.root, *parts[:i]), FOLDER_MASK)
            self.paths_of.setdefault(wd, set()).add((target, step))
            watches.append(wd)
        rules = IgnoreRules.for_dir(self.root, "/".join(parts[:-1]), MLVCIGNORE)
        return self._walk(target, self.root, os.path.join(self.root, *parts), target, parts[-1], rules, None)

    def _walk(
        self, target: str, root: str, abspath: str, rel: str, name: str, rules: IgnoreRules, parent_fd: int | None
    ) -> DirNode:
        """`walk`, watching each folder before listing it: a change after the listing is an event."""
        self.on_folder()
        wd = self.notify.add_watch(abspath, FOLDER_MASK)
        self.folders_of.setdefault(wd, set()).add(rel)
        self.wds_of[rel] = [wd]
        self.identity[rel] = _identity(os.stat(abspath))
        self.rules[rel] = rules
        try:
            node = list_folder(root, abspath, rel, name, rules, parent_fd, partial(self._walk, target))
        except BaseException:
            self._drop_folder(rel)  # and `forget` drops the subfolders walked whole before
            raise
        self.nodes[rel] = (target, node)
        self._watch_linked_files(rel, abspath)
        return node

    def _unwatch_dirty(self, rel: str, wd: int) -> None:
        """A dirty folder is listed whole at the next question, so its further events tell
        nothing: stop watching it until then (an add of 50,000 files by hardlink would queue an
        event per chmod, and wake this process for each). A subfolder replaced meanwhile is told
        apart by its inode (`_relist`); one only this folder's own watch serves, and only that."""
        if self.wds_of[rel][0] != wd or self.folders_of.get(wd) != {rel} or self.paths_of.get(wd):
            return
        self.notify.rm_watch(wd)
        del self.folders_of[wd]
        self.wds_of[rel][0] = UNWATCHED

    def _watch_linked_files(self, rel: str, abspath: str) -> None:
        """A symbolic link to a file is listed with the file's stat, and the file may live in a
        folder nobody watches: watch the file itself, its events marking this folder."""
        with os.scandir(abspath) as entries:
            links = [e.path for e in entries if e.is_symlink() and not e.is_dir()]
        for path in links:
            try:
                wd = self.notify.add_watch(path, LINK_MASK)
            except OSError:
                continue  # a broken link: the walk reported or skipped it as a status would
            self.folders_of.setdefault(wd, set()).add(rel)
            self.wds_of[rel].append(wd)

    def _refresh(self, target: str) -> None:
        # Parents first: one drops a subfolder that went (and whatever was dirty in it) before
        # anything tries to list it. Then every folder above a listed one is signed again,
        # deepest first, so each signature takes in its subfolders' new ones.
        relisted = sorted((rel for rel in self.dirty if self.nodes.get(rel, ("",))[0] == target), key=_depth)
        for rel in relisted:
            if rel in self.nodes:  # not dropped with a parent listed before it
                self._relist(target, rel)
        above: set[str] = set()
        for rel in relisted:
            while rel != target:
                rel = rel.rsplit("/", 1)[0]
                above.add(rel)
        for rel in sorted(above, key=_depth, reverse=True):
            resign(self.nodes[rel][1])

    def _relist(self, target: str, rel: str) -> None:
        node = self.nodes[rel][1]
        changed = self.dirty.pop(rel, set())
        if self.wds_of[rel][0] == UNWATCHED:  # watched again before it is listed, as in a walk
            wd = self.notify.add_watch(node.abspath, FOLDER_MASK)
            self.folders_of.setdefault(wd, set()).add(rel)
            self.wds_of[rel][0] = wd
        kept = {d.name: d for d in node.dirs}
        for name in changed & kept.keys():  # added, removed or replaced: walked anew if still there
            self._drop(kept.pop(name))

        def subfolder(root, abspath, child_rel, name, rules, parent_fd):
            old = kept.get(name)
            if old is not None and self.identity.get(child_rel) == _identity(os.stat(name, dir_fd=parent_fd)):
                return old  # the same folder, its own watches kept its listing current
            if old is not None:
                self._drop(kept.pop(name))  # replaced while this folder was not watched
            return self._walk(target, root, abspath, child_rel, name, rules, parent_fd)

        for wd in self.wds_of.get(rel, ())[1:]:  # linked files: watched again below if still there
            self.folders_of.get(wd, set()).discard(rel)
            self._release(wd)
        del self.wds_of[rel][1:]
        fresh = list_folder(self.root, node.abspath, rel, node.name, self.rules[rel], None, subfolder)
        still = {id(d) for d in fresh.dirs}
        for old in kept.values():
            if id(old) not in still:
                self._drop(old)
        node.dirs, node._names, node._keys, node.sig = fresh.dirs, fresh._names, fresh._keys, fresh.sig
        node._files = node._listing = node.hash = node.tree = None
        self._watch_linked_files(rel, node.abspath)

    def _drop(self, node: DirNode) -> None:
        for d in node.iter_dirs():
            self._drop_folder(d.rel)

    def _drop_folder(self, rel: str) -> None:
        self.nodes.pop(rel, None)
        self.identity.pop(rel, None)
        self.rules.pop(rel, None)
        self.dirty.pop(rel, None)
        for wd in self.wds_of.pop(rel, ()):
            self.folders_of.get(wd, set()).discard(rel)
            self._release(wd)

    def _release(self, wd: int) -> None:
        """Stop watching `wd` once no folder and no tracked path needs it."""
        if wd == UNWATCHED or self.folders_of.get(wd) or self.paths_of.get(wd):
            return
        self.folders_of.pop(wd, None)
        self.paths_of.pop(wd, None)
        self.notify.rm_watch(wd)


def _nothing() -> None:
    pass


def _depth(rel: str) -> int:
    return rel.count("/")


def _identity(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


class Server:
    """The event loop: inotify events, connections, and questions waiting for their cookie."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.dir = folder(root)
        self.cookie_dir = cookie_folder(root)
        self.notify = inotify.Inotify()
        self.cookie_wd = self.notify.add_watch(self.cookie_dir, inotify.IN_CREATE | inotify.SELF | inotify.IN_ONLYDIR)
        self.watcher = Watcher(root, self.notify)
        self.cookies: set[str] = set()  # cookies seen, not yet asked about
        self.waiting: list[tuple[socket.socket, dict, float]] = []
        self.walks: dict[str, float] = {}  # tracked folder -> when to walk it
        self.answered = 0  # signatures given: folders a status did not walk
        self.buffers: dict[socket.socket, bytearray] = {}
        self.selector = selectors.DefaultSelector()
        self.started = time.time()
        self.last_question = time.monotonic()
        self.running = True

    def serve(self, listener: socket.socket) -> None:
        self.selector.register(listener, selectors.EVENT_READ, "accept")
        self.selector.register(self.notify.fd, selectors.EVENT_READ, "events")
        self.watcher.on_folder = self.answer_busy
        while self.running:
            now = time.monotonic()
            if now - self.last_question > IDLE_EXIT_S or not os.path.isdir(self.cookie_dir):
                return
            deadline = min([w[2] for w in self.waiting] + list(self.walks.values()), default=now + 60)
            for key, _ in self.selector.select(max(0.0, deadline - now)):
                if key.data == "accept":
                    self.accept(key.fileobj)  # type: ignore[arg-type]
                elif key.data == "events":
                    self.read_events()
                else:
                    self.read_questions(key.fileobj)  # type: ignore[arg-type]
            self.answer_waiting()
            self.walk_due()

    def accept(self, listener: socket.socket) -> None:
        conn, _ = listener.accept()
        conn.setblocking(False)
        self.buffers[conn] = bytearray()
        self.selector.register(conn, selectors.EVENT_READ, "conn")

    def answer_busy(self) -> None:
        """Called before each folder of a walk: a question that comes meanwhile is answered at
        once, with no signature (its status walks, rather than wait for this walk to end).
        Events stay queued until the walk is done."""
        for key, _ in self.selector.select(0):
            if key.data == "accept":
                self.accept(key.fileobj)  # type: ignore[arg-type]
            elif key.data == "conn":
                self.read_questions(key.fileobj, busy=True)  # type: ignore[arg-type]

    def schedule(self, targets: list[str]) -> None:
        """Walk (or list again what changed in) these tracked folders a little later (WALK_DELAY_S)."""
        due = time.monotonic() + WALK_DELAY_S
        for target in targets:
            if isinstance(target, str):
                self.walks.setdefault(target, due)

    def walk_due(self) -> None:
        now = time.monotonic()
        for target, due in list(self.walks.items()):
            if due <= now and self.running:
                del self.walks[target]
                self.read_events()  # what changed until now is listed now, not at the next question
                self.watcher.signature(target)

    def read_events(self) -> None:
        while self.running and (events := self.notify.read()):
            for wd, mask, name in events:
                if wd != self.cookie_wd:
                    self.watcher.handle(wd, mask, name)
                elif mask & GONE:
                    self.running = False  # our folder is gone: so is the repository, or it moved
                elif name.startswith(COOKIE_PREFIX):
                    self.cookies.add(name)
                if mask & inotify.IN_Q_OVERFLOW:  # cookie events may be lost too; the trees are dropped
                    self.cookies.update(n for n in os.listdir(self.cookie_dir) if n.startswith(COOKIE_PREFIX))

    def read_questions(self, conn: socket.socket, busy: bool = False) -> None:
        try:
            chunk = conn.recv(1 << 16)
        except OSError:
            chunk = b""
        if not chunk:
            self.close(conn)
            return
        buf = self.buffers[conn]
        buf += chunk
        while b"\n" in buf:
            line, _, rest = bytes(buf).partition(b"\n")
            buf[:] = rest
            try:
                question = json.loads(line)
            except ValueError:
                self.reply(conn, {"ok": False, "error": "not JSON"})
                continue
            self.last_question = now = time.monotonic()
            op = question.get("op") if isinstance(question, dict) else None
            if op == "signatures":
                for target, due in self.walks.items():  # while statuses come one after another, wait
                    self.walks[target] = max(due, now + WALK_DELAY_S)
            if op == "signatures" and busy:
                self.reply(conn, {"ok": True, "signatures": {}})
                self.schedule(question.get("targets", []))
            elif op == "signatures":
                self.read_events()  # its cookie is likely in the queue already
                self.waiting.append((conn, question, time.monotonic() + COOKIE_WAIT_S))
            elif op == "watch":  # from add/commit: the status after them finds these listed
                self.schedule(question.get("targets", []))
            elif op == "info":
                info = {"pid": os.getpid(), "started": self.started, "answered": self.answered,
                        "walks_pending": sorted(self.walks), **self.watcher.info()}
                self.reply(conn, {"ok": True, **info})
            elif op == "stop":
                self.reply(conn, {"ok": True})
                self.running = False
            else:
                self.reply(conn, {"ok": False, "error": f"unknown op {op!r}"})

    def answer_waiting(self) -> None:
        now = time.monotonic()
        still = []
        for conn, question, deadline in self.waiting:
            cookie = question.get("cookie")
            if cookie in self.cookies:
                self.cookies.discard(cookie)
                targets = [t for t in question.get("targets", []) if isinstance(t, str)]
                ready = [t for t in targets if t in self.watcher.trees and not self.watcher.mostly_dirty(t)]
                found = {t: self.watcher.signature(t) for t in ready}
                self.answered += sum(1 for sig in found.values() if sig is not None)
                self.reply(conn, {"ok": True, "signatures": found})
                self.schedule([t for t in targets if t not in ready])
            elif now >= deadline:
                self.reply(conn, {"ok": False, "error": "cookie not seen"})
            else:
                still.append((conn, question, deadline))
        self.waiting = still

    def reply(self, conn: socket.socket, doc: dict) -> None:
        try:
            conn.setblocking(True)
            send(conn, {"protocol": PROTOCOL, **doc})
            conn.setblocking(False)
        except OSError:
            self.close(conn)

    def close(self, conn: socket.socket) -> None:
        if conn in self.buffers:
            self.selector.unregister(conn)
            del self.buffers[conn]
        self.waiting = [w for w in self.waiting if w[0] is not conn]
        conn.close()


def main(root: str, targets: list[str]) -> int:
    here = folder(root)
    os.makedirs(cookie_folder(root), mode=0o700, exist_ok=True)
    os.chmod(here, 0o700)
    lock = open(os.path.join(here, LOCK), "a")  # noqa: SIM115 - held for the life of the process
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another watcher serves this repository
    server = Server(root)
    address = Address(root)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            os.unlink(address.path)  # left by a watcher that was killed
        except FileNotFoundError:
            pass
        listener.bind(address.address)
        listener.listen(16)
        with open(os.path.join(here, PID), "w") as f:
            f.write(f"{os.getpid()}\n")
        print(f"{time.strftime('%FT%T')} watching {root} (pid {os.getpid()})", flush=True)
        server.schedule(targets)  # asked for by the add or status that started this watcher
        server.serve(listener)
    finally:
        listener.close()
        address.close()
        for name in (address.path, os.path.join(here, PID)):
            try:
                os.unlink(name)
            except FileNotFoundError:
                pass
        print(f"{time.strftime('%FT%T')} stopped", flush=True)
    return 0


def detach() -> None:
    """Fork; the parent (the launcher `client.start` waits for) exits, the child leads a new
    session with no terminal: it is nobody's child to reap, and no Ctrl-C of a shell reaches it."""
    if os.fork():
        os._exit(0)
    os.setsid()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m mlvc.fsmonitor.daemon REPO_ROOT [TRACKED_FOLDER...]")
    detach()
    sys.exit(main(os.path.abspath(sys.argv[1]), sys.argv[2:]))
