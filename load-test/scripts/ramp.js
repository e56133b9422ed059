// Gradual ramp: 5 -> 200 requests/s over 20 min, 10 min at 200, back to 5 over 5 min
// (35 min in all). Shows whether replicas follow a slow rise without lagging behind the
// SLO, and come back down afterwards.
import { arrivalRateScenario, loadConfig, options as buildOptions } from './config.js';
import { hitWeb, preflight } from './common.js';

const cfg = loadConfig(__ENV);

export const options = buildOptions(cfg, {
  ramp: arrivalRateScenario('ramp', {
    startRate: 5,
    stages: [
      { duration: '20m', target: 200 },
      { duration: '10m', target: 200 },
      { duration: '5m', target: 5 },
    ],
  }),
});

export function setup() {
  preflight(cfg);
}

export default function () {
  hitWeb(cfg);
}
