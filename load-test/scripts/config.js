// Settings shared by every scenario, read from the environment (k6's `__ENV`).
//
// Pure JavaScript with no k6 import, so the tests can load it under node. Every reader
// throws on a bad value: k6 evaluates this in the init context, where an exception aborts
// the run before any request is sent, with the message printed.

// Where the load goes. The default goes through the ingress when `web.demo.local`
// resolves to a node (an /etc/hosts line); the in-cluster Job sets TARGET_URL to the
// node's IP and HOST_HEADER to the ingress host instead.
export const DEFAULT_TARGET_URL = 'http://web.demo.local';
// The autoscaler's SLO.
export const DEFAULT_P95_MS = 200;
export const DEFAULT_MAX_ERROR_RATE = 0.01;
export const DEFAULT_STAGES = '30s:10,5m:100,1m:0';
export const EXECUTORS = ['ramping-arrival-rate', 'ramping-vus'];

// A k6 duration: one or more number-unit pairs, e.g. `90s`, `1m30s`, `500ms`, `2h`.
const DURATION = /^(\d+(\.\d+)?(ms|s|m|h))+$/;
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/;
const UNIT_SECONDS = { ms: 0.001, s: 1, m: 60, h: 3600 };

function fail(name, value, expected) {
  throw new Error(`load-test: ${name}=${JSON.stringify(value)} is invalid: expected ${expected}`);
}

// The value of `name` if set and not empty, else `fallback`.
function or(env, name, fallback) {
  const value = raw(env, name);
  return value === undefined ? fallback : value;
}

// The variable's value, or undefined when it is unset or empty (a Kubernetes env entry
// with an empty value means "use the default" here).
function raw(env, name) {
  const value = env[name];
  if (value === undefined || value === null) return undefined;
  const text = String(value).trim();
  return text === '' ? undefined : text;
}

function number(env, name, fallback, { min, max, integer, exclusiveMin }, expected) {
  const text = raw(env, name);
  if (text === undefined) return fallback;
  if (!/^\d+(\.\d+)?$/.test(text)) fail(name, text, expected);
  const value = Number(text);
  const tooSmall = exclusiveMin ? value <= min : value < min;
  if (!Number.isFinite(value) || tooSmall || (max !== undefined && value > max)) {
    fail(name, text, expected);
  }
  if (integer && !Number.isInteger(value)) fail(name, text, expected);
  return value;
}

export function durationSeconds(text) {
  const part = new RegExp(DURATION_PART.source, 'g');
  let total = 0;
  let m;
  while ((m = part.exec(String(text))) !== null) {
    total += Number(m[1]) * UNIT_SECONDS[m[2]];
  }
  return total;
}

// `STAGES`: comma-separated `duration:target` pairs, e.g. `30s:10,5m:100,1m:0`. The
// target is requests per second (arrival-rate executor) or virtual users (ramping-vus).
export function parseStages(text, name = 'STAGES') {
  const expected =
    'comma-separated duration:target pairs with k6 durations and whole-number targets, ' +
    'e.g. "30s:10,5m:100,1m:0"';
  const pairs = String(text)
    .split(',')
    .map((p) => p.trim());
  if (pairs.length === 0 || pairs.some((p) => p === '')) fail(name, text, expected);
  const stages = pairs.map((pair) => {
    const parts = pair.split(':');
    if (parts.length !== 2) fail(name, text, `${expected} (bad pair "${pair}")`);
    const [duration, target] = parts.map((p) => p.trim());
    if (!DURATION.test(duration) || durationSeconds(duration) <= 0) {
      fail(name, text, `${expected} (bad duration "${duration}")`);
    }
    if (!/^\d+$/.test(target)) fail(name, text, `${expected} (bad target "${target}")`);
    return { duration, target: Number(target) };
  });
  if (stages.every((s) => s.target === 0)) fail(name, text, `${expected}, not all zero`);
  return stages;
}

// Settings every script reads: where to send requests and the pass/fail thresholds.
export function loadConfig(env) {
  const targetUrl = or(env, 'TARGET_URL', DEFAULT_TARGET_URL);
  if (!/^https?:\/\/[^\s/?#]+(\/[^\s]*)?$/.test(targetUrl)) {
    fail('TARGET_URL', targetUrl, 'an http:// or https:// URL such as http://10.0.0.5/');
  }
  const hostHeader = raw(env, 'HOST_HEADER');
  if (hostHeader !== undefined && !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d+)?$/.test(hostHeader)) {
    fail('HOST_HEADER', hostHeader, 'a host name such as web.demo.local');
  }
  const p95Ms = number(
    env,
    'P95_MS',
    DEFAULT_P95_MS,
    { min: 0, exclusiveMin: true },
    'a latency in milliseconds greater than 0',
  );
  const maxErrorRate = number(
    env,
    'MAX_ERROR_RATE',
    DEFAULT_MAX_ERROR_RATE,
    { min: 0, max: 1, exclusiveMin: true },
    'a fraction greater than 0 and at most 1, e.g. 0.01',
  );
  return { targetUrl, hostHeader, p95Ms, maxErrorRate };
}

// What flexible.js reads on top of loadConfig.
export function loadFlexibleConfig(env) {
  const base = loadConfig(env);
  const executor = or(env, 'EXECUTOR', EXECUTORS[0]);
  if (!EXECUTORS.includes(executor)) fail('EXECUTOR', executor, `one of ${EXECUTORS.join(', ')}`);
  const stages = parseStages(or(env, 'STAGES', DEFAULT_STAGES));
  const start = number(env, 'START', 0, { min: 0, integer: true }, 'a whole number >= 0');
  const maxVUs = number(env, 'MAX_VUS', undefined, { min: 1, integer: true }, 'a whole number >= 1');
  const sleepS = number(env, 'SLEEP_S', 1, { min: 0 }, 'seconds >= 0, e.g. 0.5');
  return Object.assign({}, base, { executor, stages, start, maxVUs, sleepS });
}

// Pass/fail criteria: the SLO's p95 and the error budget. k6 exits non-zero when one is
// crossed, so a Job that "failed" on thresholds is a result, not a broken run.
export function sloThresholds(cfg) {
  const minCheckRate = Number((1 - cfg.maxErrorRate).toFixed(6));
  return {
    http_req_duration: [`p(95)<${cfg.p95Ms}`],
    http_req_failed: [`rate<${cfg.maxErrorRate}`],
    checks: [`rate>${minCheckRate}`],
  };
}

function peakTarget(stages, start) {
  return Math.max(start, ...stages.map((s) => s.target));
}

// An open-model scenario: k6 starts `target` requests per second whatever the latency,
// as real users arrive, so a slow service meets the load instead of slowing the test down.
// VUs are sized for ~250 ms per request when healthy and up to 2 s at the peak; past that
// k6 counts `dropped_iterations` rather than sending late.
export function arrivalRateScenario(shape, { startRate, stages, maxVUs }) {
  const peak = peakTarget(stages, startRate);
  const max = maxVUs === undefined ? Math.max(20, Math.ceil(peak * 2)) : maxVUs;
  return {
    executor: 'ramping-arrival-rate',
    startRate,
    timeUnit: '1s',
    preAllocatedVUs: Math.min(max, Math.max(5, Math.ceil(peak / 4))),
    maxVUs: max,
    stages,
    gracefulStop: '30s',
    tags: { shape },
  };
}

// A closed-model scenario: `target` virtual users, each sending a request and then
// sleeping SLEEP_S.
export function rampingVusScenario(shape, { startVUs, stages }) {
  return {
    executor: 'ramping-vus',
    startVUs,
    stages,
    gracefulRampDown: '30s',
    gracefulStop: '30s',
    tags: { shape },
  };
}

// The `options` every script exports.
export function options(cfg, scenarios) {
  return {
    scenarios,
    thresholds: sloThresholds(cfg),
    discardResponseBodies: true,
    summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
  };
}

// Total length of a scenario's stages in seconds (without graceful stops).
export function totalSeconds(stages) {
  return stages.reduce((sum, s) => sum + durationSeconds(s.duration), 0);
}
