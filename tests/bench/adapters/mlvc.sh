# Adapter for mlvc, sourced by run_bench.sh (same contract as adapters/dvc.sh).
# Filled-in copy of ../shared/bench/adapters/mlvc.sh (the GUESS lines there, made real here).
# MLVC_BIN: folder holding the mlvc executable (default: whatever `mlvc` is on PATH; give the
#           real bin folder, not a pyenv shim, whose bash wrapper costs ~50 ms per command).
# LINK:     link type (copy | hardlink | reflink | symlink | default); default keeps core.link=auto
#           (reflink where the filesystem can, else copy).
# FSMONITOR: 1 turns core.fsmonitor on (the file-system watcher; status_noop2 shows what it gives).
# A command that this mlvc does not have yet is recorded as n/a (rc "na"), not run.
if [ -n "${MLVC_BIN:-}" ]; then export PATH="$MLVC_BIN:$PATH"; fi

_mlvc_has() { mlvc "$1" --help >/dev/null 2>&1; }

tool_version()  { mlvc --version 2>/dev/null || mlvc version; }
tool_pre_init() { if [ "${SCM:-git}" = git ]; then git init -q . ; fi; }
cmd_init()      { CMD=(mlvc init); }
tool_post_init() {   # untimed: link type and a local-directory remote $1 as the default
  if [ -n "${LINK:-}" ] && [ "${LINK}" != default ]; then mlvc config core.link "$LINK" || return 1; fi
  if [ "${FSMONITOR:-0}" = 1 ]; then mlvc config core.fsmonitor true || return 1; fi
  if _mlvc_has remote; then mlvc remote add bench "$1" --default; fi
}
cmd_add()       { CMD=(mlvc add data); }
cmd_status()    { CMD=(mlvc status); }
cmd_push()      { if _mlvc_has push; then CMD=(mlvc push); else NA_REASON="mlvc has no push yet"; fi; }
cmd_pull()      { if _mlvc_has pull; then CMD=(mlvc pull); else NA_REASON="mlvc has no pull yet"; fi; }
cmd_checkout()  { CMD=(mlvc checkout); }
cmd_repro()     { if _mlvc_has repro; then CMD=(mlvc repro); else NA_REASON="mlvc has no repro yet"; fi; }
# The local cache is .mlvc/cache.  Without pull it is kept (checkout then restores from it).
tool_drop_cache() { if _mlvc_has pull; then rm -rf .mlvc/cache; fi; }
# mlvc.yaml uses DVC's keys (cmd, deps, outs): the same 3 stages as adapters/dvc.sh.
tool_define_pipeline() {
  cat > mlvc.yaml <<'YAML'
stages:
  s1:
    cmd: python3 -c "open('s1.txt','w').write('stage1\n')"
    deps: [data]
    outs: [s1.txt]
  s2:
    cmd: cp s1.txt s2.txt
    deps: [s1.txt]
    outs: [s2.txt]
  s3:
    cmd: python3 -c "open('s3.txt','w').write(open('s2.txt').read()*2)"
    deps: [s2.txt]
    outs: [s3.txt]
YAML
}
