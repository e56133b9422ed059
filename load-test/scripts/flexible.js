// A load shape from the environment (see README.md for every variable):
//   STAGES    duration:target pairs, e.g. "30s:10,5m:100,1m:0" (the default)
//   EXECUTOR  ramping-arrival-rate (default; targets are requests/s) or ramping-vus
//             (targets are virtual users, each pausing SLEEP_S between requests)
//   START     the rate or VU count the first stage starts from (default 0)
//   MAX_VUS   the VU cap of the arrival-rate executor (default: twice the peak rate)
// A bad value stops k6 before the first request, naming the variable.
import {
  arrivalRateScenario,
  loadFlexibleConfig,
  options as buildOptions,
  rampingVusScenario,
} from './config.js';
import { hitWeb, hitWebAndThink, preflight } from './common.js';

const cfg = loadFlexibleConfig(__ENV);

const scenario =
  cfg.executor === 'ramping-vus'
    ? rampingVusScenario('flexible', { startVUs: cfg.start, stages: cfg.stages })
    : arrivalRateScenario('flexible', {
        startRate: cfg.start,
        stages: cfg.stages,
        maxVUs: cfg.maxVUs,
      });

export const options = buildOptions(cfg, { flexible: scenario });

export function setup() {
  preflight(cfg);
}

export default function () {
  if (cfg.executor === 'ramping-vus') {
    hitWebAndThink(cfg, cfg.sleepS);
  } else {
    hitWeb(cfg);
  }
}
