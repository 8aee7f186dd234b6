#!/usr/bin/env bash
# Verify GPU sampling (NVML) and the GPU traits on a machine with an NVIDIA GPU, PyTorch and the
# profiler's dependencies (as wheels in .whl/ where the machine has no registry).
# Writes a summary to $OUT (default: a temp folder). Used for the record in docs/sampling-devices.md.
OUT=${OUT:-$(mktemp -d)}
mkdir -p /tmp/gpuruns && rm -rf /tmp/gpuruns/*
[ -d .whl ] && python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD || true
export PYTHONUNBUFFERED=1 PATH=/tmp/site/bin:$PATH
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee $OUT/smi.txt
python3 -c "import profiler.sampling.gpu as g; b=g.open_gpu_backend(); print(b.devices()); import os; print(b.sample([os.getpid()]))" 2>&1 | tee $OUT/nvml.txt
python3 -m pytest -q tests/test_gpu.py 2>&1 | tail -3
python3 -m profiler run 'http://127.0.0.1:{port}/predict' --launch "python3 examples/gpu_model.py --port {port} --work heavy" --out /tmp/gpuruns/heavy --users 1,2,4,8,16 --duration 20 --quiet 2>&1 | tail -5
python3 -m profiler run 'http://127.0.0.1:{port}/predict' --launch "python3 examples/gpu_model.py --port {port} --work light" --out /tmp/gpuruns/light --users 1,2,4,8,16 --duration 20 --quiet 2>&1 | tail -5
for d in heavy light; do python3 -c "
import json,sys; r=json.load(open('/tmp/gpuruns/$d/report.json'))
print('$d', r['run']['status'], r['resources']['gpu']['available'], r['resources']['gpu']['notice'])
for s in r['load']['stages']: print('  u=%s rps=%.0f p50=%.1f cpu=%s' % (s['users'], s['rps'], s['latency']['p50'], s['target_cpu_pct']))
for g in r['resources']['gpu']['per_stage']: print('  gpu', g)
for e in r['resources']['energy']['per_stage']: print('  energy', e)
print('  energy src', r['resources']['energy']['gpu_source'], r['resources']['energy']['cpu_source'], r['resources']['energy']['notices'])
for t in r['traits']: print('  TRAIT', t['id'], t['confidence'], t['evidence']['summary'])
for x in r['recommendations']: print('  REC', x['id'], x['action'][:90])
print('  code', r['code']['available'], r['code']['notice'], [ (c['stage'], c['top_self'][:2]) for c in r['code']['per_stage']])
" 2>&1 | tee -a $OUT/summary.txt; done
cp /tmp/gpuruns/heavy/report.json $OUT/heavy-report.json; cp /tmp/gpuruns/light/report.json $OUT/light-report.json; head -c 3000 /tmp/gpuruns/heavy/samples.jsonl > $OUT/heavy-samples-head.txt
