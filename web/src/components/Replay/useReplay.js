// The replay console's data: every recorded event of the conversation (all
// pages) and the conversation's state at the revision asked for, from the
// state route. A revision's state never changes (the log is append-only), so
// each one is fetched once per page load; only "the latest" (no revision
// asked) is always asked again.

import { useCallback, useEffect, useRef, useState } from 'react';
import { loadAllEvents } from './events.js';

/**
 * `source`: see source.js. `at`: the revision to show, or null for the latest.
 * Returns `{ events, eventsError, state, stateError, loading, reloadEvents }`:
 * `state` is the last state received for `at` (the previous one stays while
 * the next loads, `loading` true).
 */
export function useReplay(source, at) {
  const [events, setEvents] = useState(null);
  const [eventsError, setEventsError] = useState(null);
  const [state, setState] = useState(null);
  const [stateError, setStateError] = useState(null);
  const [loading, setLoading] = useState(true);
  const cache = useRef(new Map());
  const asked = useRef(0);

  const reloadEvents = useCallback(() => {
    let cancelled = false;
    setEventsError(null);
    loadAllEvents(source.events)
      .then((list) => !cancelled && setEvents(list))
      .catch((e) => !cancelled && setEventsError(e));
    return () => {
      cancelled = true;
    };
  }, [source]);

  useEffect(() => {
    cache.current = new Map();
    setEvents(null);
    return reloadEvents();
  }, [reloadEvents]);

  useEffect(() => {
    const ticket = ++asked.current;
    const known = at === null ? null : cache.current.get(at);
    if (known) {
      setState(known);
      setStateError(null);
      setLoading(false);
      return;
    }
    setLoading(true);
    source
      .state(at)
      .then((s) => {
        cache.current.set(s.at, s);
        if (ticket !== asked.current) return;
        setState(s);
        setStateError(null);
        setLoading(false);
      })
      .catch((e) => {
        if (ticket !== asked.current) return;
        setStateError(e);
        setLoading(false);
      });
  }, [source, at]);

  // The log grew since the events were read (new messages, or an operator's
  // own access, recorded before its first answer): read them again.
  // Once per revision seen, so that a log that still reads shorter cannot loop.
  const lastRevision = state?.lastRevision;
  const reloadedFor = useRef(null);
  useEffect(() => {
    if (!events || lastRevision === undefined || lastRevision <= events.length - 1) return;
    if (reloadedFor.current === lastRevision) return;
    reloadedFor.current = lastRevision;
    reloadEvents();
  }, [events, lastRevision, reloadEvents]);

  return { events, eventsError, state, stateError, loading, reloadEvents };
}
