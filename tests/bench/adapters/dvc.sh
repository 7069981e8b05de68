# Adapter for DVC, sourced by run_bench.sh: ../shared/bench/adapters/dvc.sh plus LINK.
# LINK: copy | hardlink | reflink | symlink | default (default: DVC's own `reflink,copy`).
DVC_VENV=${DVC_VENV:-/tmp/bench/dvc-venv}
export PATH="$DVC_VENV/bin:$PATH"
export DVC_NO_ANALYTICS=1

tool_version()  { dvc --version; }
# DVC's "site cache" (hash-state db, data index) goes to the rep's scratch folder, so nothing
# carries over between repetitions or runs.
tool_pre_init() {
  export DVC_SITE_CACHE_DIR="$BENCH_SCRATCH/dvc-site-cache"
  if [ "${SCM:-git}" = git ]; then git init -q . ; fi
}
cmd_init()      { if [ "${SCM:-git}" = git ]; then CMD=(dvc init -q); else CMD=(dvc init -q --no-scm); fi; }
tool_post_init() {   # untimed: quiet, offline, link type, local-directory remote $1
  dvc config core.analytics false && dvc config core.check_update false &&
  if [ -n "${LINK:-}" ] && [ "$LINK" != default ]; then dvc config cache.type "$LINK"; fi &&
  dvc remote add -q -d bench "$1"
}
cmd_add()       { CMD=(dvc add data); }
cmd_status()    { CMD=(dvc status); }
cmd_push()      { CMD=(dvc push); }
cmd_pull()      { CMD=(dvc pull); }
cmd_checkout()  { CMD=(dvc checkout); }
cmd_repro()     { CMD=(dvc repro); }
tool_drop_cache() { rm -rf .dvc/cache; }
tool_define_pipeline() {
  dvc stage add -q -n s1 -d data -o s1.txt "python3 -c \"open('s1.txt','w').write('stage1\n')\"" &&
  dvc stage add -q -n s2 -d s1.txt -o s2.txt "cp s1.txt s2.txt" &&
  dvc stage add -q -n s3 -d s2.txt -o s3.txt "python3 -c \"open('s3.txt','w').write(open('s2.txt').read()*2)\""
}
