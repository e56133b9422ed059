// Sustained high load: up to 150 requests/s over 2 min, 30 min at 150, down to 0 over
// 1 min (33 min in all). Shows whether the replica count settles, or keeps changing,
// under a load that does not move.
import { arrivalRateScenario, loadConfig, options as buildOptions } from './config.js';
import { hitWeb, preflight } from './common.js';

const cfg = loadConfig(__ENV);

export const options = buildOptions(cfg, {
  sustained: arrivalRateScenario('sustained', {
    startRate: 0,
    stages: [
      { duration: '2m', target: 150 },
      { duration: '30m', target: 150 },
      { duration: '1m', target: 0 },
    ],
  }),
});

export function setup() {
  preflight(cfg);
}

export default function () {
  hitWeb(cfg);
}
