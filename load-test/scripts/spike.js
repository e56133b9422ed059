// Sudden spike: 20 requests/s for 5 min, up to 200 (x10) within 30 s, 5 min at 200,
// down to 20 within 30 s, then 10 min at 20 (21 min in all). Shows how fast capacity
// arrives after a step and how long the scale-down waits once it has passed.
import { arrivalRateScenario, loadConfig, options as buildOptions } from './config.js';
import { hitWeb, preflight } from './common.js';

const cfg = loadConfig(__ENV);

export const options = buildOptions(cfg, {
  spike: arrivalRateScenario('spike', {
    startRate: 20,
    stages: [
      { duration: '5m', target: 20 },
      { duration: '30s', target: 200 },
      { duration: '5m', target: 200 },
      { duration: '30s', target: 20 },
      { duration: '10m', target: 20 },
    ],
  }),
});

export function setup() {
  preflight(cfg);
}

export default function () {
  hitWeb(cfg);
}
