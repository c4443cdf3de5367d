//! Ahead of the kill: while a step runs, whether the memory it holds is heading for its limit.
//!
//! The sampler thread hands every reading of the tightest limit to a [`Forecast`]: the memory
//! the kernel cannot drop (file cache left out) and that limit. The forecast keeps a short
//! history, thinned so that it always spans the recent part of the step (half its life, at most
//! an hour) at even resolution, however long the job runs. It judges the trend with the
//! Theil–Sen estimator — the median of the slopes between every pair of readings — so one
//! spike, one freed buffer or a saw-tooth of loading and freeing makes no warning: most pairs
//! must show memory growing, the later half of the window must still grow at least half as
//! fast and memory must still be climbing at the last readings (growth that is levelling off
//! or has stopped is not extrapolated), and the step must hold more than it ever did before (a
//! job that loads and frees in cycles is not warned on every climb).
//!
//! A warning is given only when, at the rate seen, the limit is reached no further ahead than
//! the growth seen has lasted (a trend is not stretched beyond its own length) and within the
//! site's `warn_ahead` (but not with less than [`MIN_LEFT`] to act), and the step already holds
//! `warn_above` of its limit. A warning whose
//! growth then levels off is withdrawn. At most [`MAX_NOTICES`] notices per step, and a warning
//! always leaves room for its withdrawal.
//!
//! Pure: no clock, no files; the memory it keeps is allocated once, in [`Forecast::new`].

use std::collections::VecDeque;
use std::time::Duration;

/// What a site decides (plugstack.conf `warn_ahead`, `warn_above`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Warn only when the limit is expected within this time.
    pub ahead: Duration,
    /// ...and the step already holds at least this share of its limit (percent).
    pub above_percent: u64,
}

/// The tightest limit at one moment: memory held that the kernel cannot drop, and the limit;
/// and what the step itself holds (the tightest limit may be the job's, shared by its steps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    pub held: u64,
    pub limit: u64,
    pub own: u64,
}

/// What the step is told while it runs (times on the sampler's clock: since the step started).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "notice", rename_all = "snake_case")]
pub enum Notice {
    /// Memory is climbing towards the limit: at `per_minute`, it is reached in `left`.
    Warning {
        at: Duration,
        held: u64,
        limit: u64,
        per_minute: u64,
        left: Duration,
    },
    /// The growth behind the last warning has levelled off.
    Withdrawn { at: Duration, held: u64, limit: u64 },
}

/// Notices per step at most: warning, withdrawal, warning, withdrawal.
pub const MAX_NOTICES: usize = 4;
/// Readings kept.
const POINTS: usize = 64;
/// Readings wanted per window: fewer than [`POINTS`], so the window is always covered.
const PER_WINDOW: u32 = 48;
/// No trend from less than this much time, or fewer readings.
const MIN_SPAN: Duration = Duration::from_secs(20);
const MIN_POINTS: usize = 10;
/// The window never reaches further back than this: a leak that starts late in a long job
/// is judged on the last hour, not diluted by days of steady use.
const MAX_WINDOW: Duration = Duration::from_secs(3600);
/// Less time than this to act is no use to a warning: the report at the end tells.
const MIN_LEFT: Duration = Duration::from_secs(10);
/// Finest resolution: the sampler's own first interval.
const MIN_STRIDE: Duration = Duration::from_millis(250);
/// Share of pairs of readings that must show growth for a warning, and below which a warned
/// growth counts as levelled off.
const GROWING_SHARE: f64 = 0.75;
const LEVELLED_SHARE: f64 = 0.6;
/// The last readings, whose tightest counts as now.
const RECENT: usize = 3;
/// A warning needs memory above anything held before the window, by this share of the limit.
const NEW_HIGH_SHARE: f64 = 0.01;
/// Growth over the window smaller than this share of the limit is noise, not a trend.
const MIN_GROWTH_SHARE: f64 = 0.02;

#[derive(Debug, Clone, Copy)]
struct Point {
    /// Seconds since the step started.
    at: f64,
    held: u64,
    limit: u64,
    own: u64,
}

impl Point {
    /// What is left before the limit (bytes; negative past it).
    fn room(&self) -> f64 {
        self.limit as f64 - self.held as f64
    }
}

/// A trend of the memory held over some readings.
#[derive(Debug, Clone, Copy)]
struct Trend {
    /// Bytes a second (Theil–Sen): positive while memory grows.
    rate: f64,
    /// Share of the pairs of readings that show growth.
    growing: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Calm,
    /// Warned at `at` (seconds), of growth at `rate`, judged over `judged`.
    Warned {
        at: f64,
        rate: f64,
        judged: Duration,
    },
}

/// The forecast of one step.
#[derive(Debug)]
pub struct Forecast {
    settings: Settings,
    points: VecDeque<Point>,
    /// Scratch for the pairwise slopes.
    slopes: Vec<f64>,
    state: State,
    told: usize,
    /// The most memory held by readings no longer kept: with those still kept but older than
    /// the window judged, what a warning's new high must pass.
    highest_dropped: u64,
}

impl Forecast {
    pub fn new(settings: Settings) -> Forecast {
        Forecast {
            settings,
            points: VecDeque::with_capacity(POINTS),
            slopes: Vec::with_capacity(POINTS * (POINTS - 1) / 2),
            state: State::Calm,
            told: 0,
            highest_dropped: 0,
        }
    }

    /// How often it wants a reading, `elapsed` into the step.
    pub fn stride(elapsed: Duration) -> Duration {
        (window(elapsed) / PER_WINDOW).max(MIN_STRIDE)
    }

    /// When it wants its next reading: a stride after the last one it kept.
    pub fn due(&self, elapsed: Duration) -> Duration {
        let last = self
            .points
            .back()
            .map_or(Duration::ZERO, |p| Duration::from_secs_f64(p.at));
        last + Self::stride(elapsed)
    }

    /// Whether it has said all it may: no more readings are wanted.
    pub fn finished(&self) -> bool {
        self.told >= MAX_NOTICES
    }

    /// Takes a reading at `at`; what the step should be told now, if anything. When it cannot
    /// be told now (`can_tell` false: too close to the limit to write a line), the reading is
    /// kept but nothing is decided: the notice comes at a later reading, if it still holds.
    pub fn observe(&mut self, at: Duration, room: Room, can_tell: bool) -> Option<Notice> {
        if room.limit == 0 || self.finished() || !self.admit(at, room) || !can_tell {
            return None;
        }
        let notice = match self.state {
            State::Calm if self.told + 2 <= MAX_NOTICES => self.warning(at),
            State::Calm => None,
            State::Warned {
                at: since,
                rate,
                judged,
            } => self.withdrawal(at, since, rate, judged),
        };
        if notice.is_some() {
            self.told += 1;
        }
        notice
    }

    /// Keeps the reading if it is at least a stride after the last one kept.
    fn admit(&mut self, at: Duration, room: Room) -> bool {
        let secs = at.as_secs_f64();
        let stride = Self::stride(at).as_secs_f64();
        if let Some(last) = self.points.back()
            && secs < last.at + stride * 0.9
        {
            return false;
        }
        if self.points.len() == POINTS
            && let Some(dropped) = self.points.pop_front()
        {
            self.highest_dropped = self.highest_dropped.max(dropped.held);
        }
        self.points.push_back(Point {
            at: secs,
            held: room.held,
            limit: room.limit,
            own: room.own,
        });
        true
    }

    /// A warning, judged on the whole window and on its most recent quarter (a leak that
    /// started lately shows there first).
    fn warning(&mut self, at: Duration) -> Option<Notice> {
        let whole = window(at);
        [whole, whole / 4]
            .into_iter()
            .filter(|span| *span >= MIN_SPAN)
            .find_map(|span| self.warning_over(at, span))
    }

    fn warning_over(&mut self, at: Duration, span: Duration) -> Option<Notice> {
        let (before, points) = split(&mut self.points, at, span);
        let highest_before = before
            .iter()
            .map(|p| p.held)
            .fold(self.highest_dropped, u64::max);
        let (first, last) = (points.first()?, points.last()?);
        let seen = last.at - first.at;
        // (The readings of a window span a stride less than it.)
        if points.len() < MIN_POINTS || seen < MIN_SPAN.as_secs_f64() * 0.9 {
            return None;
        }
        let trend = theil_sen(points, &mut self.slopes)?;
        let later = theil_sen(&points[points.len() / 2..], &mut self.slopes)?;
        let now = tightest(&points[points.len().saturating_sub(RECENT)..]);
        let limit = now.limit as f64;
        // A climb that started within the window shows in its later half first.
        let rate = trend.rate.max(later.rate);
        let left = now.room().max(0.0) / rate;
        let ahead = self.settings.ahead.as_secs_f64().min(seen);
        // Still climbing now: above what it held a tenth of the window ago.
        let fresh_from = last.at - (seen / 10.0).max(2.0 * Self::stride(at).as_secs_f64());
        let climbing_now = points
            .iter()
            .rev()
            .find(|p| p.at <= fresh_from)
            .is_some_and(|earlier| now.held > earlier.held);
        // The step's own memory made the climb (its job's other steps warn for theirs).
        let own_share =
            (last.own as f64 - first.own as f64) / (last.held as f64 - first.held as f64);
        let warn = trend.rate > 0.0
            && climbing_now
            && own_share >= 0.5
            && now.held as f64 > highest_before as f64 + limit * NEW_HIGH_SHARE
            && trend.growing >= GROWING_SHARE
            && later.rate >= trend.rate / 2.0
            && trend.rate * seen >= limit * MIN_GROWTH_SHARE
            && now.held as f64 * 100.0 >= limit * self.settings.above_percent as f64
            && left <= ahead
            && left >= MIN_LEFT.as_secs_f64();
        if !warn {
            return None;
        }
        self.state = State::Warned {
            at: at.as_secs_f64(),
            rate,
            judged: span,
        };
        Some(Notice::Warning {
            at,
            held: now.held,
            limit: now.limit,
            per_minute: (rate * 60.0) as u64,
            left: Duration::from_secs_f64(left),
        })
    }

    /// A withdrawal once the growth since the warning (over a quarter window at least) has
    /// mostly stopped or turned.
    fn withdrawal(
        &mut self,
        at: Duration,
        since: f64,
        warned_rate: f64,
        judged: Duration,
    ) -> Option<Notice> {
        let now = at.as_secs_f64();
        if now - since < MIN_SPAN.as_secs_f64() {
            return None;
        }
        // Half the span the warning was judged on (a leak that grows in steps is flat between
        // them; a late leak in a long job is judged on a short span), not anchored at the
        // warning: a climb long past does not hold a withdrawal back.
        let span = (judged / 2)
            .max(MIN_SPAN)
            .max(Self::stride(at) * (MIN_POINTS as u32 + 1));
        let (_, points) = split(&mut self.points, at, span);
        if points.len() < MIN_POINTS {
            return None;
        }
        let trend = theil_sen(points, &mut self.slopes)?;
        let latest = *points.last()?;
        if trend.rate > warned_rate / 10.0 && trend.growing >= LEVELLED_SHARE {
            return None;
        }
        self.state = State::Calm;
        Some(Notice::Withdrawn {
            at,
            held: latest.held,
            limit: latest.limit,
        })
    }
}

/// The readings before the last `span` before `at`, and those of it.
fn split(points: &mut VecDeque<Point>, at: Duration, span: Duration) -> (&[Point], &[Point]) {
    let from = at.as_secs_f64() - span.as_secs_f64();
    let points = points.make_contiguous();
    let start = points.partition_point(|p| p.at < from);
    points.split_at(start)
}

/// The window judged `elapsed` into the step: its later half, from [`MIN_SPAN`] to
/// [`MAX_WINDOW`].
fn window(elapsed: Duration) -> Duration {
    (elapsed / 2).clamp(MIN_SPAN, MAX_WINDOW)
}

/// The reading with the least room of these.
fn tightest(points: &[Point]) -> Point {
    let mut least = points[0];
    for p in points {
        if p.room() < least.room() {
            least = *p;
        }
    }
    least
}

/// The Theil–Sen trend of `points` (at least two at different times); `slopes` is scratch.
fn theil_sen(points: &[Point], slopes: &mut Vec<f64>) -> Option<Trend> {
    slopes.clear();
    for (i, a) in points.iter().enumerate() {
        for b in &points[i + 1..] {
            let dt = b.at - a.at;
            if dt > 0.0 && slopes.len() < slopes.capacity() {
                // Growth is room lost: it holds even when the tightest limit changes.
                slopes.push((a.room() - b.room()) / dt);
            }
        }
    }
    if slopes.is_empty() {
        return None;
    }
    let growing = slopes.iter().filter(|s| **s > 0.0).count() as f64 / slopes.len() as f64;
    let middle = slopes.len() / 2;
    let (_, median, _) = slopes.select_nth_unstable_by(middle, f64::total_cmp);
    Some(Trend {
        rate: *median,
        growing,
    })
}

#[cfg(test)]
mod tests;
