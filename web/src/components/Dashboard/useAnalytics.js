// The figures one dashboard view needs, all from `GET /api/vendor/analytics`:
// the chosen range, the range of the same length before it (for the change
// of the response time), and the range cut into buckets (for its trend).

import { useEffect, useState } from 'react';
import { fetchAnalytics } from '@souk/client';
import { previousRange, queryOf, trendBuckets } from './range.js';

/**
 * `{ status: 'loading' | 'ready' | 'error', figures, previous, trend, range, error }`
 * for `range`; `trend` is `[{ first, last, days, p50, p90 }]` (`null` without an
 * answered conversation in the bucket).
 */
export function useAnalytics(token, range) {
  const [state, setState] = useState({ status: 'loading' });
  const key = `${range.first}/${range.last}`;

  useEffect(() => {
    let cancelled = false;
    setState((s) => ({ ...s, status: 'loading', error: null }));
    const get = (r) => fetchAnalytics(token, queryOf(r));
    const buckets = trendBuckets(range);
    Promise.all([get(range), get(previousRange(range)), Promise.all(buckets.map(get))])
      .then(([figures, previous, perBucket]) => {
        if (cancelled) return;
        const trend = buckets.map((b, i) => ({
          ...b,
          p50: perBucket[i].firstResponseSeconds.p50,
          p90: perBucket[i].firstResponseSeconds.p90,
        }));
        setState({ status: 'ready', figures, previous, trend, range });
      })
      .catch((error) => {
        if (!cancelled) setState({ status: 'error', error });
      });
    return () => {
      cancelled = true;
    };
    // The range's dates are its identity.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [token, key]);

  return state;
}
