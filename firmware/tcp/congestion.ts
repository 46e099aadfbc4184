// Retransmission timeout (RFC 6298) and congestion control (RFC 5681 with NewReno, RFC 6582). Device dialect.
//
// RTO (RFC 6298 §2): SRTT and RTTVAR in fixed point (SRTT × 8, RTTVAR × 4, ms), one segment timed at a
// time, never a retransmitted one (Karn's algorithm, §3), the backed-off RTO kept until a fresh sample
// (§5.5). RTO = SRTT + max(RTO_VAR_MIN, 4 × RTTVAR), clamped to [RTO_MIN, RTO_MAX]:
//   - RTO_MIN is 200 ms, not RFC 6298 §2.4's 1 s ("SHOULD"): spinet serves LANs where RTTs are well
//     under a millisecond, and a lost segment would otherwise stall a connection for a whole second.
//     Like Linux, the variance term has the same 200 ms floor (it plays the role of §2's clock
//     granularity G), so RTO ≥ SRTT + 200 ms: a peer that delays its ACKs by up to 200 ms (RFC 9293
//     §3.8.6.3 allows 500) does not trigger spurious retransmissions once SRTT has been measured;
//   - RTO_MAX is 60 s (§2.5 allows a maximum of at least 60 s);
//   - the first RTO is 1 s (§2.1).
//
// Congestion control (RFC 5681 §3): initial window by §3.1's table, slow start with appropriate byte
// counting (RFC 3465 §2.3, L = 2·SMSS per ACK), congestion avoidance adding SMSS·SMSS/cwnd per ACK
// (RFC 5681 eq. 3), ssthresh = max(FlightSize / 2, 2·SMSS) on loss (eq. 4), cwnd = 1 SMSS after a
// timeout (the loss window). Fast retransmit on the third duplicate ACK and NewReno fast recovery
// (RFC 6582 §3.2: partial ACKs retransmit the next hole, `recover` guards against false entries), with
// limited transmit (RFC 3042) for the first two duplicate ACKs so small windows still fill.
import {
  TcbTable, F_RTT, F_RECOVERY,
} from './tcb.js'

export const RTO_INITIAL = 1000
export const RTO_MIN = 200
export const RTO_VAR_MIN = 200
export const RTO_MAX = 60000
/** RFC 6298 §5.7: after a retransmitted SYN, data starts with a 3 s RTO until a sample is taken. */
export const RTO_AFTER_SYN_LOSS = 3000
/** RFC 5681 §3.2: the third duplicate ACK starts fast retransmit. */
export const DUPACK_THRESHOLD = 3
/** "Infinite" initial ssthresh (RFC 5681 §3.1: "arbitrarily high"). */
export const SSTHRESH_INFINITE = 0x3fffffff
/** cwnd never grows past this (it cannot be used beyond 2^30 anyway, RFC 7323 §2.3). */
const CWND_MAX = 0x3fffffff

/** RFC 5681 §3.1, eq. 1: the initial window for an SMSS. */
export function initialWindow(mss: number): number {
  if (mss > 2190) return 2 * mss
  if (mss > 1095) return 3 * mss
  return 4 * mss
}

/** Sets RTO from SRTT and RTTVAR (RFC 6298 §2.3). */
function computeRto(t: TcbTable, i: number): void {
  const v = t.rttvar4[i] > RTO_VAR_MIN ? t.rttvar4[i] : RTO_VAR_MIN
  let rto = (t.srtt8[i] >> 3) + v
  if (rto < RTO_MIN) rto = RTO_MIN
  if (rto > RTO_MAX) rto = RTO_MAX
  t.rto[i] = rto
}

/** Undoes the backoff: RTO from SRTT and RTTVAR again, or the initial RTO when there is no sample yet. */
export function restoreRto(t: TcbTable, i: number): void {
  if (t.srtt8[i] === 0 && t.rttvar4[i] === 0) t.rto[i] = RTO_INITIAL
  else computeRto(t, i)
}

/** A round-trip sample of `r` ms (RFC 6298 §2.2 for the first, §2.3 after). */
export function rttSample(t: TcbTable, i: number, r: number): void {
  if (r < 0) r = 0
  if (r > 8191) r = 8191
  if (t.srtt8[i] === 0 && t.rttvar4[i] === 0) {
    // SRTT = R, RTTVAR = R / 2
    t.srtt8[i] = r * 8
    t.rttvar4[i] = r * 2
  } else {
    // RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R| (with the old SRTT), then SRTT = 7/8 SRTT + 1/8 R
    const err = r - (t.srtt8[i] >> 3)
    const v = t.rttvar4[i] - (t.rttvar4[i] >> 2) + (err < 0 ? -err : err)
    t.rttvar4[i] = v > 65535 ? 65535 : v
    const s = t.srtt8[i] + err
    t.srtt8[i] = s < 0 ? 0 : s > 65535 ? 65535 : s
  }
  computeRto(t, i)
}

/** Resets cwnd/ssthresh for a new connection (RFC 5681 §3.1). */
export function initCongestion(t: TcbTable, i: number): void {
  t.cwnd[i] = initialWindow(t.mss[i])
  t.ssthresh[i] = SSTHRESH_INFINITE
  t.dupacks[i] = 0
  t.unset(i, F_RECOVERY)
}

/** Bytes sent and not yet acknowledged, as RFC 5681 counts FlightSize. */
export function flightSize(t: TcbTable, i: number): number {
  return (t.sndNxt[i] - t.sndUna[i]) >>> 0
}

/** RFC 5681 eq. 4. */
function lossThreshold(t: TcbTable, i: number, flight: number): number {
  const half = flight >>> 1
  const two = 2 * t.mss[i]
  return half > two ? half : two
}

/** New data acknowledged outside fast recovery: slow start or congestion avoidance (RFC 5681 §3.1). */
export function onNewAck(t: TcbTable, i: number, acked: number): void {
  const mss = t.mss[i]
  let c = t.cwnd[i]
  if (c < t.ssthresh[i]) {
    // RFC 3465 §2.3: cwnd += min(N, L·SMSS), L = 2
    c += acked < 2 * mss ? acked : 2 * mss
  } else {
    // RFC 5681 eq. 3: cwnd += SMSS·SMSS / cwnd, at least one byte
    const inc = Math.floor((mss * mss) / c)
    c += inc > 0 ? inc : 1
  }
  t.cwnd[i] = c > CWND_MAX ? CWND_MAX : c
  t.dupacks[i] = 0
}

/**
 * The retransmission timer expired with data outstanding (RFC 6298 §5.4–5.6, RFC 5681 §3.1, RFC 6582
 * §3.2 step 4): back off, collapse cwnd to the loss window, leave recovery, stop timing (Karn).
 */
export function onTimeout(t: TcbTable, i: number): void {
  const flight = (t.sndMax[i] - t.sndUna[i]) >>> 0
  if (t.retries[i] === 0) t.ssthresh[i] = lossThreshold(t, i, flight)
  t.cwnd[i] = t.mss[i]
  t.recover[i] = t.sndMax[i]
  t.dupacks[i] = 0
  t.unset(i, F_RECOVERY | F_RTT)
  backoff(t, i)
}

/** RFC 6298 §5.5: RTO = RTO × 2, at most RTO_MAX. */
export function backoff(t: TcbTable, i: number): void {
  const r = t.rto[i] * 2
  t.rto[i] = r > RTO_MAX ? RTO_MAX : r
}

/**
 * The third duplicate ACK (RFC 6582 §3.2 step 2, RFC 5681 §3.2 steps 2–3). Returns true when fast
 * retransmit starts (the caller retransmits the first unacknowledged segment), false when `recover`
 * says these duplicates belong to a loss already handled.
 */
export function enterRecovery(t: TcbTable, i: number, ack: number): boolean {
  // "the Cumulative Acknowledgment field covers more than recover"
  if (((ack - 1 - t.recover[i]) | 0) < 0) return false
  t.recover[i] = t.sndMax[i]
  t.ssthresh[i] = lossThreshold(t, i, flightSize(t, i))
  t.cwnd[i] = t.ssthresh[i] + DUPACK_THRESHOLD * t.mss[i]
  t.set(i, F_RECOVERY)
  t.unset(i, F_RTT)
  return true
}

/** A further duplicate ACK in fast recovery inflates cwnd by one SMSS (RFC 5681 §3.2 step 4). */
export function inflate(t: TcbTable, i: number): void {
  const c = t.cwnd[i] + t.mss[i]
  t.cwnd[i] = c > CWND_MAX ? CWND_MAX : c
}

/**
 * An ACK of new data during fast recovery (RFC 6582 §3.2 steps 3 and 5). `ack` has already been taken
 * into SND.UNA. Returns true for a partial ACK (the caller retransmits the first unacknowledged segment
 * and restarts the retransmission timer), false for a full one (recovery is over).
 */
export function recoveryAck(t: TcbTable, i: number, ack: number, acked: number): boolean {
  const mss = t.mss[i]
  if (((ack - t.recover[i]) | 0) >= 0) {
    // Full acknowledgment, option (1): cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS)
    const flight = flightSize(t, i)
    const f = (flight > mss ? flight : mss) + mss
    t.cwnd[i] = f < t.ssthresh[i] ? f : t.ssthresh[i]
    t.unset(i, F_RECOVERY)
    t.dupacks[i] = 0
    return false
  }
  // Partial acknowledgment: deflate by the amount acknowledged, add back one SMSS if that was ≥ SMSS.
  let c = t.cwnd[i] - acked
  if (acked >= mss) c += mss
  t.cwnd[i] = c > mss ? c : mss
  return true
}
