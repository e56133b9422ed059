// The request every scenario sends, and the check before the first one.
import http from 'k6/http';
import { check, sleep } from 'k6';

// Request parameters: the Host header routes the request at the ingress when TARGET_URL
// is a node's address; the `name` tag keeps every request under one URL in the metrics.
// A request still waiting after 10 s counts as failed (k6's own default is 60 s).
function params(cfg, name) {
  const headers = {};
  if (cfg.hostHeader !== undefined) headers.Host = cfg.hostHeader;
  return { headers, tags: { name }, timeout: '10s' };
}

function describe(cfg) {
  return cfg.hostHeader === undefined ? cfg.targetUrl : `${cfg.targetUrl} (Host: ${cfg.hostHeader})`;
}

// One request before the load starts (k6 `setup`): stops the run with a clear message
// when the target is unreachable or the ingress does not route the host, instead of a
// full-length run of errors.
export function preflight(cfg) {
  const res = http.get(cfg.targetUrl, params(cfg, 'preflight'));
  if (res.status === 0) {
    throw new Error(
      `load-test: cannot reach ${describe(cfg)}: ${res.error}. Check TARGET_URL ` +
        '(the node IP with the ingress on port 80, or a name that resolves to it).',
    );
  }
  if (res.status !== 200) {
    throw new Error(
      `load-test: ${describe(cfg)} answered ${res.status}, not 200. A 404 from the ingress ` +
        'usually means HOST_HEADER does not match the Ingress host (web.demo.local).',
    );
  }
  console.log(`load-test: target ${describe(cfg)} answers 200; starting the load`);
}

// One request to the workload, checked for a 200.
export function hitWeb(cfg) {
  const res = http.get(cfg.targetUrl, params(cfg, 'web'));
  check(res, { 'status is 200': (r) => r.status === 200 });
}

// A request followed by a pause, for closed-model (ramping-vus) scenarios.
export function hitWebAndThink(cfg, seconds) {
  hitWeb(cfg);
  if (seconds > 0) sleep(seconds);
}
