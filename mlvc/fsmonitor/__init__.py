"""A file-system watcher that keeps big tracked folders listed, so a no-op `mlvc status` stats nothing.

Opt-in with `mlvc config core.fsmonitor true` (Linux: inotify). The first `status` starts one
watcher process per repository (`daemon`); it walks each tracked folder it is asked about once,
watches every folder in it, and re-lists only the folders that events touched. `status` asks it
for the listing signature of each tracked folder (`client`) and looks that up in the stat cache:
the same signature a walk gives, so a hit means the same tree hash, with no stat of any file.

A question carries a cookie: a file that the client creates in the watched `.mlvc/tmp/fsmonitor/`
folder before asking. inotify queues events in order, so once the watcher has read the cookie's
event it has read every event of a change made before the question; it re-lists what they touched,
then answers. Anything it cannot vouch for (queue overflow, an error in a walk, a folder outside
what it watches) it answers with no signature, and `status` walks as it always did.
"""
