/* When to try again after a stream or socket ends: the one reconnect schedule of every page.
 *
 * A web restart, a deploy or a Wi-Fi blip ends every open stream at once. Retrying at fixed
 * delays would bring a whole control room back in lockstep, every round, so each delay is
 * "equal jitter": half the current step plus a random part of the other half. The step doubles
 * from FIRST_MS up to LAST_MS and no further, so a screen is back within LAST_MS of the server
 * accepting again (the restart-storm target is 3 s; bench/README.md), while a thousand screens
 * waiting on a server that is down make about one attempt each per 2.5 s between them.
 *
 * const retry = nvrReconnect.backoff(); await nvrReconnect.sleep(retry.next()); retry.reset();
 */
(function () {
  "use strict";

  const FIRST_MS = 250;
  const LAST_MS = 2500;

  function backoff(first = FIRST_MS, last = LAST_MS) {
    let step = first;
    return {
      /* The delay before the next attempt (ms), and a longer step for the one after. */
      next() {
        const delay = step / 2 + Math.random() * (step / 2);
        step = Math.min(step * 2, last);
        return delay;
      },
      /* A connection worked: the next failure starts from the first step again. */
      reset() {
        step = first;
      },
    };
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  window.nvrReconnect = { backoff, sleep, FIRST_MS, LAST_MS };
})();
