//! Files arriving at the province's centers, and each file's events along its procedure's
//! steps, as one time-ordered stream of `dunghan.v1.Event`.
//!
//! Arrivals: every center has an ordinary working-day rate; a day's rate is shaped by the
//! weekday (Monday busiest, Friday quietest), the month-end peak (the last five working days),
//! the pre-Tết surge (the three weeks before Lunar New Year) and the lull after it. Nothing
//! is filed on holidays; on ordinary weekends only online submissions arrive, at a tenth of
//! the weekday rate. In-person files arrive in working hours, mornings busier; online ones
//! from early morning to late evening. The count of a day is Poisson.
//!
//! Each file is planned on the shipped Vietnamese calendar with the same due-time
//! computation the service uses (`dunghan_domain::clock::due_time`): reception at the desk,
//! appraisal at a division (the division head assigns, an officer appraises, the head
//! reviews), approval by the head of the department or commune, and the return. Its outcome
//! is decided first (about 2 % late, with step overruns; 1 % withdrawn, 1.5 % rejected,
//! a few stopped; refusals at the desk), then its steps use working time in proportion to
//! their allotments. Supplement requests (some more than 3 working days after receipt, a few
//! twice), financial obligations that stop the clock, consultations (some answered late),
//! extensions (some too late, a few twice), buck-passing (A→B→A→B) and inflated
//! appointments are mixed in at realistic rates.
//!
//! Memory is bounded: a file's events wait in a heap of compact records until the stream
//! has passed the end of the day before they happen, so the heap holds only the files
//! still in progress (about six weeks of arrivals), never the whole stream.
//! The stream is a pure function of the seed and the configuration.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc, Weekday};
use dunghan_domain::calendar::{lunar, Calendar};
use dunghan_domain::clock::{due_time, DueRule};
use dunghan_domain::{ProcedureCode, WorkingTime};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use super::province::{Appraisal, Level, Province};
use super::DemoError;
use crate::proto::v1 as pb;
use crate::proto::wkt::Timestamp;

/// Seconds in one working hour.
const HOUR: i64 = 3_600;

/// Seconds in one working day.
const DAY: i64 = 8 * HOUR;

/// The smallest gap between two events of one file, so that they never tie.
const MIN_GAP_SECS: i64 = 60;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// First day of arrivals (local date).
    pub start: NaiveDate,
    /// Day after the last day of arrivals; `None` runs until `max_files`.
    pub end: Option<NaiveDate>,
    /// Stop after this many files; `None` runs until `end`.
    pub max_files: Option<u64>,
    /// Drop the events that happen on or after `end`, leaving the files still in progress
    /// open, as they are at the end of the simulated period.
    pub cut_at_end: bool,
    /// The `source` of every event.
    pub source: String,
}

/// What the generator planned, for summaries and tests; the service's verdicts are the
/// truth, these are the intentions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Planned {
    /// Files that arrived.
    pub files: u64,
    /// Events emitted so far.
    pub events: u64,
    /// Files refused at the desk.
    pub not_accepted: u64,
    /// Files planned to finish by their due time.
    pub on_time: u64,
    /// Files planned to finish after their due time.
    pub late: u64,
    /// Files withdrawn by the applicant.
    pub withdrawn: u64,
    /// Files rejected after appraisal.
    pub rejected: u64,
    /// Files whose processing was stopped.
    pub stopped: u64,
    /// Files with at least one supplement request.
    pub supplements: u64,
    /// Files passed back and forth between two holders.
    pub buck_passed: u64,
    /// Files extended by an apology letter.
    pub extended: u64,
    /// Files whose plan could not be placed on the calendar (outside its horizon); skipped.
    pub skipped: u64,
}

/// The stream of events of a simulated province; see the module documentation.
#[derive(Debug)]
pub struct Workload {
    shared: Arc<Shared>,
    config: WorkloadConfig,
    rng: ChaCha8Rng,
    heap: BinaryHeap<Pending>,
    /// The next day whose arrivals are generated.
    next_day: NaiveDate,
    /// Every pending event before this instant (unix seconds) may be emitted.
    safe_until: i64,
    /// The end of the period as an instant, for `cut_at_end`.
    end_secs: Option<i64>,
    /// Whether arrivals are over.
    arrivals_done: bool,
    /// Tie-breaker keeping the heap order total and deterministic.
    order: u64,
    planned: Planned,
    /// A late file and an overdue candidate, to suggest to the user.
    examples: Examples,
    /// Reused buffer of one file's events.
    buffer: Vec<(i64, Act)>,
}

/// File ids worth showing the user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Examples {
    /// A file planned to finish late.
    pub late_file: Option<String>,
    /// A file with buck-passing.
    pub buck_passed_file: Option<String>,
    /// A file with a supplement request.
    pub supplement_file: Option<String>,
}

/// Province data resolved once for the generator.
#[derive(Debug)]
struct Shared {
    province: Arc<Province>,
    calendar: Arc<Calendar>,
    rules: Vec<DueRule>,
    /// Cumulative weights of province-level and commune-level procedures.
    province_procedures: Weighted,
    commune_procedures: Weighted,
    /// Staff (members who are not the head) of every unit, before and after the reshuffle.
    staff: [Vec<Vec<u32>>; 2],
    /// Head of every unit, before and after the reshuffle.
    heads: [Vec<Option<u32>>; 2],
    /// For each commune unit: its `vp`, `kt`, `vhxh` divisions.
    commune_divisions: Vec<[Option<usize>; 3]>,
    /// Departments (for consultations).
    departments: Vec<usize>,
}

/// A weighted choice over indexes.
#[derive(Debug, Clone, Default)]
struct Weighted {
    indexes: Vec<usize>,
    cumulative: Vec<f64>,
}

/// A file id in parts, formatted only when an event is emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileKey {
    center: u16,
    /// `yymmdd` of the arrival day.
    day: u32,
    number: u32,
}

/// The officer and unit holding a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Holder {
    officer: u32,
    unit: u32,
}

/// One event in compact form: indexes into the province instead of strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Submitted {
        procedure: u16,
        channel: pb::Channel,
    },
    Received {
        procedure: u16,
        channel: pb::Channel,
        holder: Holder,
        appointment: i64,
    },
    NotAccepted {
        reason: u8,
    },
    HandedOver {
        from: Holder,
        to: Holder,
        step: u8,
    },
    SupplementRequested {
        officer: u32,
        reason: u8,
    },
    SupplementReceived,
    FinancialRequested {
        procedure: u16,
    },
    FinancialFulfilled,
    ConsultationRequested {
        unit: u32,
        days: u8,
    },
    ConsultationAnswered {
        unit: u32,
    },
    Extended {
        reason: u8,
        new_due: i64,
    },
    Withdrawn,
    Stopped {
        reason: u8,
    },
    Rejected {
        reason: u8,
    },
    Resolved {
        holder: Holder,
    },
    Returned,
}

/// A generated event waiting for its turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pending {
    at: i64,
    order: u64,
    file: FileKey,
    index: u8,
    act: Act,
}

/// The decided fate of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    OnTime,
    Late,
    Withdrawn,
    Rejected,
    Stopped,
}

const NOT_ACCEPTED_REASONS: [&str; 4] = [
    "Hồ sơ không thuộc thẩm quyền giải quyết",
    "Thiếu thành phần hồ sơ theo quy định, đã hướng dẫn bổ sung trước khi nộp lại",
    "Người nộp không xuất trình được giấy tờ tùy thân",
    "Hồ sơ trực tuyến trùng với hồ sơ đã nộp",
];
const SUPPLEMENT_REASONS: [(&str, &str); 4] = [
    (
        "Thiếu bản sao giấy tờ tùy thân",
        "Bản sao căn cước công dân",
    ),
    (
        "Bản vẽ chưa đúng hiện trạng",
        "Bản vẽ hiện trạng có xác nhận",
    ),
    ("Thiếu văn bản ủy quyền", "Văn bản ủy quyền có chứng thực"),
    (
        "Tờ khai chưa đầy đủ thông tin",
        "Tờ khai theo mẫu đã điền đủ",
    ),
];
const EXTENSION_REASONS: [&str; 3] = [
    "Chờ ý kiến phối hợp của cơ quan liên quan",
    "Cần xác minh thực địa bổ sung",
    "Khối lượng hồ sơ tăng đột biến cuối năm",
];
const STOP_REASONS: [&str; 2] = [
    "Đối tượng thuộc diện tạm dừng theo quyết định thanh tra",
    "Có đơn tranh chấp liên quan, tạm dừng giải quyết",
];
const REJECTION_REASONS: [&str; 3] = [
    "Không đủ điều kiện theo quy định",
    "Không phù hợp quy hoạch sử dụng đất",
    "Thông tin kê khai không trung thực",
];

impl WorkloadConfig {
    /// The demo's period: `months` months of arrivals from `start`, cut at the end.
    pub fn months(seed: u64, start: NaiveDate, months: u32) -> WorkloadConfig {
        let end = start
            .checked_add_months(chrono::Months::new(months))
            .unwrap_or(start);
        WorkloadConfig {
            seed,
            start,
            end: Some(end),
            max_files: None,
            cut_at_end: true,
            source: "motcua-son-ha".to_owned(),
        }
    }

    /// `files` files from `start`, every one followed to its end.
    pub fn files(seed: u64, start: NaiveDate, files: u64) -> WorkloadConfig {
        WorkloadConfig {
            seed,
            start,
            end: None,
            max_files: Some(files),
            cut_at_end: false,
            source: "motcua-son-ha".to_owned(),
        }
    }
}

impl Workload {
    /// The stream of `province` under `config`.
    ///
    /// # Errors
    /// [`DemoError::Catalog`] if the province's catalog does not build (a generator bug).
    pub fn new(province: Arc<Province>, config: WorkloadConfig) -> Result<Workload, DemoError> {
        let catalog = province.catalog()?;
        let calendar =
            catalog
                .calendars
                .values()
                .next()
                .cloned()
                .ok_or_else(|| DemoError::Catalog {
                    errors: vec!["the catalog has no calendar".to_owned()],
                })?;
        let mut rules = Vec::with_capacity(province.procedures.len());
        for procedure in &province.procedures {
            let found = ProcedureCode::new(procedure.code)
                .ok()
                .and_then(|code| catalog.procedure_at(&code, province.config.effective_from))
                .map(|(_, found)| DueRule::of(found))
                .ok_or_else(|| DemoError::Catalog {
                    errors: vec![format!(
                        "procedure {} is not in the catalog",
                        procedure.code
                    )],
                })?;
            rules.push(found);
        }
        let shared = Shared::new(province, calendar, rules);
        let start_secs = shared.midnight(config.start);
        let end_secs = config.end.map(|end| shared.midnight(end));
        Ok(Workload {
            rng: ChaCha8Rng::seed_from_u64(config.seed ^ 0x574f_524b_4c4f_4144),
            shared: Arc::new(shared),
            next_day: config.start,
            safe_until: start_secs,
            end_secs,
            arrivals_done: false,
            order: 0,
            planned: Planned::default(),
            examples: Examples::default(),
            buffer: Vec::with_capacity(32),
            heap: BinaryHeap::new(),
            config,
        })
    }

    /// What was planned so far (files that arrived, events emitted, intended outcomes).
    pub fn planned(&self) -> Planned {
        self.planned
    }

    /// File ids worth suggesting to the user, from the files generated so far.
    pub fn examples(&self) -> &Examples {
        &self.examples
    }

    /// The instant of the end of the period, if it has one.
    pub fn end(&self) -> Option<DateTime<Utc>> {
        self.end_secs
            .and_then(|secs| DateTime::<Utc>::from_timestamp(secs, 0))
    }

    /// Events waiting in the heap (files in progress), for memory checks.
    pub fn pending_events(&self) -> usize {
        self.heap.len()
    }

    /// Generates the arrivals of the next day and plans their files.
    fn generate_day(&mut self) {
        let day = self.next_day;
        self.next_day = day.succ_opt().unwrap_or(day);
        if self.config.end.is_some_and(|end| day >= end) || day == self.next_day {
            self.arrivals_done = true;
            return;
        }
        let shared = Arc::clone(&self.shared);
        let arrivals = shared.arrivals(&mut self.rng, day);
        let mut numbers = vec![0u32; shared.province.centers.len()];
        for (at, center, channel) in arrivals {
            if self
                .config
                .max_files
                .is_some_and(|max| self.planned.files >= max)
            {
                self.arrivals_done = true;
                break;
            }
            numbers[center] += 1;
            let key = FileKey {
                center: u16::try_from(center).unwrap_or(u16::MAX),
                day: yymmdd(day),
                number: numbers[center],
            };
            self.plan_file(&shared, key, center, channel, at);
        }
        self.safe_until = shared.midnight(self.next_day);
        if self
            .config
            .max_files
            .is_some_and(|max| self.planned.files >= max)
        {
            self.arrivals_done = true;
        }
    }

    fn plan_file(
        &mut self,
        shared: &Shared,
        key: FileKey,
        center: usize,
        channel: pb::Channel,
        at: DateTime<Utc>,
    ) {
        self.planned.files += 1;
        self.buffer.clear();
        let mut planner = FilePlanner {
            shared,
            rng: &mut self.rng,
            out: &mut self.buffer,
            last: 0,
            flags: Flags::default(),
        };
        let outcome = planner.plan(center, channel, at);
        let flags = planner.flags;
        match outcome {
            None => self.planned.skipped += 1,
            Some(None) => self.planned.not_accepted += 1,
            Some(Some(Fate::OnTime)) => self.planned.on_time += 1,
            Some(Some(Fate::Late)) => self.planned.late += 1,
            Some(Some(Fate::Withdrawn)) => self.planned.withdrawn += 1,
            Some(Some(Fate::Rejected)) => self.planned.rejected += 1,
            Some(Some(Fate::Stopped)) => self.planned.stopped += 1,
        }
        self.planned.supplements += u64::from(flags.supplement);
        self.planned.buck_passed += u64::from(flags.buck_passed);
        self.planned.extended += u64::from(flags.extended);
        let needs_example = (outcome == Some(Some(Fate::Late))
            && self.examples.late_file.is_none())
            || (flags.buck_passed && self.examples.buck_passed_file.is_none())
            || (flags.supplement && self.examples.supplement_file.is_none());
        if needs_example {
            let file_id = shared.file_id(key);
            if outcome == Some(Some(Fate::Late)) && self.examples.late_file.is_none() {
                self.examples.late_file = Some(file_id.clone());
            }
            if flags.buck_passed && self.examples.buck_passed_file.is_none() {
                self.examples.buck_passed_file = Some(file_id.clone());
            }
            if flags.supplement && self.examples.supplement_file.is_none() {
                self.examples.supplement_file = Some(file_id);
            }
        }
        for (index, (at, act)) in self.buffer.drain(..).enumerate() {
            if self.config.cut_at_end && self.end_secs.is_some_and(|end| at >= end) {
                continue;
            }
            self.order += 1;
            self.heap.push(Pending {
                at,
                order: self.order,
                file: key,
                index: u8::try_from(index + 1).unwrap_or(u8::MAX),
                act,
            });
        }
    }
}

impl Iterator for Workload {
    type Item = pb::Event;

    fn next(&mut self) -> Option<pb::Event> {
        loop {
            let ready = self
                .heap
                .peek()
                .is_some_and(|top| self.arrivals_done || top.at < self.safe_until);
            if ready {
                let pending = self.heap.pop()?;
                self.planned.events += 1;
                return Some(self.shared.event(&pending, &self.config.source));
            }
            if self.arrivals_done {
                return None;
            }
            self.generate_day();
        }
    }
}

impl Ord for Pending {
    /// Reversed, so that the max-heap pops the earliest event first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.order).cmp(&(self.at, self.order))
    }
}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Weighted {
    fn new(items: impl Iterator<Item = (usize, f64)>) -> Weighted {
        let mut weighted = Weighted::default();
        let mut total = 0.0;
        for (index, weight) in items {
            total += weight;
            weighted.indexes.push(index);
            weighted.cumulative.push(total);
        }
        weighted
    }

    fn pick(&self, rng: &mut ChaCha8Rng) -> Option<usize> {
        let total = *self.cumulative.last()?;
        let target = rng.random::<f64>() * total;
        let position = self.cumulative.partition_point(|&sum| sum <= target);
        self.indexes
            .get(position.min(self.indexes.len() - 1))
            .copied()
    }
}

impl Shared {
    fn new(province: Arc<Province>, calendar: Arc<Calendar>, rules: Vec<DueRule>) -> Shared {
        let by_level = |level: Level| {
            Weighted::new(
                province
                    .procedures
                    .iter()
                    .enumerate()
                    .filter(|(_, procedure)| procedure.level == level)
                    .map(|(idx, procedure)| (idx, procedure.weight)),
            )
        };
        let dates = [province.config.effective_from, province.config.reshuffle_on];
        let n_units = province.units.len();
        let mut staff = [vec![Vec::new(); n_units], vec![Vec::new(); n_units]];
        let mut heads = [vec![None; n_units], vec![None; n_units]];
        for (period, on) in dates.iter().enumerate() {
            for unit in 0..n_units {
                let head = province.head_on(unit, *on);
                heads[period][unit] = head.and_then(|h| u32::try_from(h).ok());
                staff[period][unit] = province
                    .members_on(unit, *on)
                    .into_iter()
                    .filter(|&officer| Some(officer) != head)
                    .filter_map(|officer| u32::try_from(officer).ok())
                    .collect();
            }
        }
        let commune_divisions = (0..n_units)
            .map(|unit| {
                let id = &province.units[unit].id;
                ["vp", "kt", "vhxh"].map(|suffix| province.unit_index(&format!("{id}-{suffix}")))
            })
            .collect();
        let departments = (0..n_units)
            .filter(|&unit| province.units[unit].kind == super::province::UnitKindName::Department)
            .collect();
        Shared {
            province_procedures: by_level(Level::Province),
            commune_procedures: by_level(Level::Commune),
            province,
            calendar,
            rules,
            staff,
            heads,
            commune_divisions,
            departments,
        }
    }

    /// Unix seconds of local midnight starting `day`.
    fn midnight(&self, day: NaiveDate) -> i64 {
        self.calendar
            .to_utc(day.and_time(NaiveTime::MIN))
            .timestamp()
    }

    /// `secs` of working time after `from` on the calendar; a little later than `from` if
    /// the calendar cannot place it.
    fn advance(&self, from: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
        self.calendar
            .due_at(from, WorkingTime::seconds(secs.max(0)))
            .unwrap_or(from + Duration::seconds(secs.max(0)))
    }

    fn period(&self, at: DateTime<Utc>) -> usize {
        usize::from(self.calendar.local_date(at) >= self.province.config.reshuffle_on)
    }

    fn staff_of(&self, unit: usize, at: DateTime<Utc>) -> &[u32] {
        &self.staff[self.period(at)][unit]
    }

    fn head_of(&self, unit: usize, at: DateTime<Utc>) -> Option<u32> {
        self.heads[self.period(at)][unit]
    }

    /// The arrivals of `day`: instant, center, channel, in time order.
    fn arrivals(
        &self,
        rng: &mut ChaCha8Rng,
        day: NaiveDate,
    ) -> Vec<(DateTime<Utc>, usize, pb::Channel)> {
        let working = self.calendar.is_working_day(day);
        let online_only = !working && self.is_ordinary_weekend(day);
        if !working && !online_only {
            return Vec::new();
        }
        let factor = if online_only {
            0.1
        } else {
            self.day_factor(day)
        };
        let mut arrivals = Vec::new();
        for (center_idx, center) in self.province.centers.iter().enumerate() {
            let count = poisson(rng, center.files_per_day * factor);
            let online_share = if center.commune.is_some() { 0.35 } else { 0.5 };
            let postal_share = if center.commune.is_some() { 0.02 } else { 0.06 };
            for _ in 0..count {
                let roll = rng.random::<f64>();
                let channel = if online_only || roll < online_share {
                    pb::Channel::Online
                } else if roll < online_share + postal_share {
                    pb::Channel::Postal
                } else {
                    pb::Channel::InPerson
                };
                let at = self.time_of_day(rng, day, channel);
                arrivals.push((at, center_idx, channel));
            }
        }
        arrivals.sort_by_key(|(at, center, _)| (*at, *center));
        arrivals
    }

    /// A Saturday or Sunday between two working weeks (not part of a holiday).
    fn is_ordinary_weekend(&self, day: NaiveDate) -> bool {
        let (before, after) = match day.weekday() {
            Weekday::Sat => (day - Duration::days(1), day + Duration::days(2)),
            Weekday::Sun => (day - Duration::days(2), day + Duration::days(1)),
            _ => return false,
        };
        self.calendar.is_working_day(before) && self.calendar.is_working_day(after)
    }

    /// The rate of a working day relative to an ordinary one.
    fn day_factor(&self, day: NaiveDate) -> f64 {
        let weekday = match day.weekday() {
            Weekday::Mon => 1.2,
            Weekday::Tue => 1.05,
            Weekday::Wed => 1.0,
            Weekday::Thu => 0.95,
            Weekday::Fri => 0.85,
            Weekday::Sat | Weekday::Sun => 0.8,
        };
        // The last five working days of a month: reports close, fees change, people hurry.
        let month_end = match self.calendar.nth_working_day_after(day, 5) {
            Ok(fifth) if fifth.month() != day.month() => 1.35,
            _ => 1.0,
        };
        let tet = [day.year(), day.year() + 1]
            .into_iter()
            .filter_map(lunar::lunar_new_year)
            .find(|tet| *tet >= day - Duration::days(20));
        let seasonal = match tet.map(|tet| (tet - day).num_days()) {
            // Three weeks before Tết: everyone wants their papers before the holiday.
            Some(days) if (1..=21).contains(&days) => 1.25 + 0.6 * (1.0 - days as f64 / 21.0),
            // Two weeks after it: a slow restart.
            Some(days) if (-20..=0).contains(&days) => 0.75,
            _ => 1.0,
        };
        weekday * month_end * seasonal
    }

    /// An arrival instant on `day`: working hours for the desk and the post (mornings
    /// busier), early morning to late evening online.
    fn time_of_day(
        &self,
        rng: &mut ChaCha8Rng,
        day: NaiveDate,
        channel: pb::Channel,
    ) -> DateTime<Utc> {
        let minutes = if channel == pb::Channel::Online {
            let roll = rng.random::<f64>();
            if roll < 0.45 {
                450.0 + 570.0 * rng.random::<f64>()
            } else if roll < 0.8 {
                1140.0 + 270.0 * rng.random::<f64>()
            } else {
                360.0 + 1050.0 * rng.random::<f64>()
            }
        } else {
            let hours = self.calendar.hours_on(day);
            let morning = rng.random::<f64>() < 0.64;
            let period = if morning { hours.first() } else { hours.last() };
            let Some(period) = period else {
                return self.calendar.to_utc(day.and_time(NaiveTime::MIN));
            };
            let start = f64::from(period.start.num_seconds_from_midnight_minutes());
            let end = f64::from(period.end.num_seconds_from_midnight_minutes());
            // Triangular, peaking about a third into the period (09:00 in the morning).
            start + (end - start - 1.0) * triangular(rng, 0.35)
        };
        let seconds = (minutes * 60.0) as i64 + rng.random_range(0..60);
        let local = day.and_time(NaiveTime::MIN) + Duration::seconds(seconds);
        self.calendar.to_utc(local)
    }

    fn file_id(&self, key: FileKey) -> String {
        let center = self
            .province
            .centers
            .get(usize::from(key.center))
            .map_or(0, |center| center.number);
        format!("000.00.{center:02}.H99-{:06}-{:04}", key.day, key.number)
    }

    fn unit_id(&self, unit: u32) -> String {
        self.province
            .units
            .get(unit as usize)
            .map(|unit| unit.id.clone())
            .unwrap_or_default()
    }

    fn officer_id(&self, officer: u32) -> String {
        self.province
            .officers
            .get(officer as usize)
            .map(|officer| officer.id.clone())
            .unwrap_or_default()
    }

    fn procedure_code(&self, procedure: u16) -> String {
        self.province
            .procedures
            .get(usize::from(procedure))
            .map(|procedure| procedure.code.to_owned())
            .unwrap_or_default()
    }

    fn step_code(&self, step: u8) -> String {
        ["tiep-nhan", "tham-dinh", "phe-duyet", "tra-ket-qua"]
            .get(usize::from(step))
            .map(|code| (*code).to_owned())
            .unwrap_or_default()
    }

    /// The wire event of a pending record.
    fn event(&self, pending: &Pending, source: &str) -> pb::Event {
        use pb::event::Kind;
        let file_id = self.file_id(pending.file);
        let kind = match pending.act {
            Act::Submitted { procedure, channel } => Kind::Submitted(pb::event::Submitted {
                procedure_code: self.procedure_code(procedure),
                channel: channel as i32,
            }),
            Act::Received {
                procedure,
                channel,
                holder,
                appointment,
            } => Kind::Received(pb::event::Received {
                procedure_code: self.procedure_code(procedure),
                channel: channel as i32,
                receiving_unit_id: self.unit_id(holder.unit),
                receiving_officer_id: self.officer_id(holder.officer),
                appointment_at: Some(timestamp(appointment)),
            }),
            Act::NotAccepted { reason } => Kind::NotAccepted(pb::event::NotAccepted {
                reason: pick_text(&NOT_ACCEPTED_REASONS, reason),
            }),
            Act::HandedOver { from, to, step } => Kind::HandedOver(pb::event::HandedOver {
                from_officer_id: self.officer_id(from.officer),
                from_unit_id: self.unit_id(from.unit),
                to_officer_id: self.officer_id(to.officer),
                to_unit_id: self.unit_id(to.unit),
                step_code: self.step_code(step),
            }),
            Act::SupplementRequested { officer, reason } => {
                let (text, item) = SUPPLEMENT_REASONS
                    .get(usize::from(reason))
                    .copied()
                    .unwrap_or(SUPPLEMENT_REASONS[0]);
                Kind::SupplementRequested(pb::event::SupplementRequested {
                    officer_id: self.officer_id(officer),
                    reason: text.to_owned(),
                    items: vec![item.to_owned()],
                })
            }
            Act::SupplementReceived => Kind::SupplementReceived(pb::event::SupplementReceived {}),
            Act::FinancialRequested { procedure } => {
                Kind::FinancialObligationRequested(pb::event::FinancialObligationRequested {
                    description: format!(
                        "Nghĩa vụ tài chính: {}",
                        self.province
                            .procedures
                            .get(usize::from(procedure))
                            .map_or("lệ phí", |procedure| procedure.name)
                    ),
                })
            }
            Act::FinancialFulfilled => {
                Kind::FinancialObligationFulfilled(pb::event::FinancialObligationFulfilled {})
            }
            Act::ConsultationRequested { unit, days } => {
                Kind::ConsultationRequested(pb::event::ConsultationRequested {
                    consulted_unit_id: self.unit_id(unit),
                    deadline: Some(pb::Deadline {
                        amount: u32::from(days),
                        unit: pb::DeadlineUnit::WorkingDays as i32,
                    }),
                })
            }
            Act::ConsultationAnswered { unit } => {
                Kind::ConsultationAnswered(pb::event::ConsultationAnswered {
                    consulted_unit_id: self.unit_id(unit),
                })
            }
            Act::Extended { reason, new_due } => Kind::Extended(pb::event::Extended {
                reason: pick_text(&EXTENSION_REASONS, reason),
                new_due_at: Some(timestamp(new_due)),
            }),
            Act::Withdrawn => Kind::Withdrawn(pb::event::Withdrawn {
                reason: "Người yêu cầu xin rút hồ sơ".to_owned(),
            }),
            Act::Stopped { reason } => Kind::Stopped(pb::event::Stopped {
                reason: pick_text(&STOP_REASONS, reason),
            }),
            Act::Rejected { reason } => Kind::Rejected(pb::event::Rejected {
                reason: pick_text(&REJECTION_REASONS, reason),
            }),
            Act::Resolved { holder } => Kind::Resolved(pb::event::Resolved {
                officer_id: self.officer_id(holder.officer),
                unit_id: self.unit_id(holder.unit),
            }),
            Act::Returned => Kind::Returned(pb::event::Returned {}),
        };
        pb::Event {
            event_id: format!("{file_id}-{:02}", pending.index),
            file_id,
            occurred_at: Some(timestamp(pending.at)),
            source: source.to_owned(),
            kind: Some(kind),
        }
    }
}

/// What happened to a file besides its fate.
#[derive(Debug, Clone, Copy, Default)]
struct Flags {
    supplement: bool,
    buck_passed: bool,
    extended: bool,
}

/// Plans one file's events into `out`.
struct FilePlanner<'a> {
    shared: &'a Shared,
    rng: &'a mut ChaCha8Rng,
    out: &'a mut Vec<(i64, Act)>,
    /// The instant of the last event pushed.
    last: i64,
    flags: Flags,
}

impl FilePlanner<'_> {
    /// Plans the file; `None` if it cannot be placed on the calendar, `Some(None)` if it is
    /// refused at the desk, else its fate.
    fn plan(
        &mut self,
        center_idx: usize,
        channel: pb::Channel,
        arrival: DateTime<Utc>,
    ) -> Option<Option<Fate>> {
        let shared = self.shared;
        let calendar = &*shared.calendar;
        let center = &shared.province.centers[center_idx];
        let procedures = if center.commune.is_some() {
            &shared.commune_procedures
        } else {
            &shared.province_procedures
        };
        let procedure_idx = procedures.pick(self.rng)?;
        let procedure = &shared.province.procedures[procedure_idx];
        let procedure_key = u16::try_from(procedure_idx).ok()?;
        let field = procedure.field;
        // Who handles it: the desk, the appraising division, its head, the approver.
        let desk_unit = center.unit;
        let (division, approver_unit) = match (procedure.appraisal, center.commune) {
            (Appraisal::Division(division), _) => {
                (division, shared.province.units[division].parent?)
            }
            (Appraisal::CommuneDivision(suffix), Some(commune)) => {
                let slot = ["vp", "kt", "vhxh"].iter().position(|s| *s == suffix)?;
                (shared.commune_divisions[commune][slot]?, commune)
            }
            (Appraisal::CommuneDivision(_), None) => return None,
        };
        // 1. Online submission and reception.
        let received_at = if channel == pb::Channel::Online {
            self.push(
                arrival,
                Act::Submitted {
                    procedure: procedure_key,
                    channel,
                },
            );
            let opening = calendar.next_opening(arrival).ok()?;
            shared.advance(opening, self.rng.random_range(5 * 60..3 * HOUR))
        } else {
            arrival
        };
        let not_accepted_rate = if channel == pb::Channel::Online {
            0.03
        } else {
            0.01
        };
        if self.rng.random::<f64>() < not_accepted_rate {
            let reason = self.small(NOT_ACCEPTED_REASONS.len());
            self.push(received_at, Act::NotAccepted { reason });
            return Some(None);
        }
        let desk = self.holder(desk_unit, received_at, Role::Staff)?;
        let rule = shared.rules[procedure_idx];
        let placed = due_time(calendar, rule, received_at).ok()?;
        let mut clock_start = placed.clock_start;
        let budget = placed.budget.as_secs();
        let mut due = placed.due;
        // A few sources print a later appointment than the deadline allows.
        let appointment = if self.rng.random::<f64>() < 0.004 {
            shared.advance(due, 2 * DAY)
        } else {
            due
        };
        self.push(
            received_at,
            Act::Received {
                procedure: procedure_key,
                channel,
                holder: desk,
                appointment: appointment.timestamp(),
            },
        );
        // 2. The fate, and how much of the budget the steps use.
        let same_day = budget <= DAY;
        let late_rate = match field {
            "dat-dai" => 0.045,
            "xay-dung" => 0.04,
            _ if same_day => 0.008,
            _ => 0.02,
        };
        let roll = self.rng.random::<f64>();
        let fate = if roll < 0.01 {
            Fate::Withdrawn
        } else if roll < 0.025 {
            if matches!(field, "dat-dai" | "xay-dung") && self.rng.random::<f64>() < 0.15 {
                Fate::Stopped
            } else {
                Fate::Rejected
            }
        } else if roll < 0.025 + late_rate {
            Fate::Late
        } else {
            Fate::OnTime
        };
        let total_share = if fate == Fate::Late {
            let u = self.rng.random::<f64>();
            1.04 + 0.6 * u * u
        } else {
            let u = self.rng.random::<f64>();
            0.25 + 0.7 * u.powf(0.6)
        };
        let buck_passing = !same_day
            && self.rng.random::<f64>()
                < if center.commune.is_some() {
                    0.008
                } else {
                    0.02
                };
        if buck_passing {
            self.flags.buck_passed = true;
        }
        let allotted: Vec<i64> = procedure
            .steps
            .iter()
            .map(|step| step.allotted_secs)
            .collect();
        let allotted_total: i64 = allotted.iter().sum::<i64>().max(1);
        // Steps use time in proportion to their allotments, with noise; one in ten files
        // has a step that overruns its allotment while the file may still be on time.
        let overrun_step = (self.rng.random::<f64>() < 0.1).then(|| self.rng.random_range(1..3));
        let mut weights: Vec<f64> = allotted
            .iter()
            .enumerate()
            .map(|(idx, &secs)| {
                let noise = 0.6 + 0.8 * self.rng.random::<f64>();
                let boost = if Some(idx) == overrun_step { 2.2 } else { 1.0 };
                secs as f64 * noise * boost
            })
            .collect();
        let weight_total: f64 = weights.iter().sum::<f64>().max(1.0);
        for weight in &mut weights {
            *weight /= weight_total;
        }
        let scale = budget as f64 / allotted_total as f64;
        let mut used: Vec<i64> = weights
            .iter()
            .map(|weight| {
                ((weight * total_share * allotted_total as f64 * scale) as i64).max(MIN_GAP_SECS)
            })
            .collect();
        // 3. Reception at the desk.
        let mut t = shared.advance(clock_start, used[0]);
        let division_head = self.holder(division, t, Role::Head)?;
        self.push(
            t,
            Act::HandedOver {
                from: desk,
                to: division_head,
                step: 1,
            },
        );
        // 4. Appraisal: the head assigns, an officer appraises, the head reviews.
        t = shared.advance(t, used[1] / 10);
        let officer = self.holder(division, t, Role::Staff)?;
        self.push(
            t,
            Act::HandedOver {
                from: division_head,
                to: officer,
                step: 1,
            },
        );
        let mut officer_work = used[1] * 8 / 10;
        let mut paused: i64 = 0;
        // Supplement request during appraisal: mostly within 3 working days of receipt.
        let supplement_rate = if same_day { 0.02 } else { 0.08 };
        if fate != Fate::Withdrawn && self.rng.random::<f64>() < supplement_rate {
            self.flags.supplement = true;
            let late_request = !same_day && self.rng.random::<f64>() < 0.2;
            let since_start = calendar.elapsed(clock_start, t).as_secs();
            let request_after = if late_request {
                (3 * DAY + self.rng.random_range(HOUR..2 * DAY) - since_start).max(MIN_GAP_SECS)
            } else {
                let room = (3 * DAY - since_start)
                    .clamp(MIN_GAP_SECS + 1, officer_work.max(MIN_GAP_SECS + 1));
                self.rng.random_range(MIN_GAP_SECS..room)
            };
            t = shared.advance(t, request_after);
            officer_work = (officer_work - request_after).max(HOUR.min(officer_work));
            let reason = self.small(SUPPLEMENT_REASONS.len());
            self.push(
                t,
                Act::SupplementRequested {
                    officer: officer.officer,
                    reason,
                },
            );
            let waiting = self.rng.random_range(HOUR..8 * DAY);
            if self.rng.random::<f64>() < 0.04 {
                // The applicant gives up.
                t = shared.advance(t, waiting);
                self.push(t, Act::Withdrawn);
                return Some(Some(Fate::Withdrawn));
            }
            t = shared.advance(t, waiting);
            self.push(t, Act::SupplementReceived);
            // The legal clock restarts from zero with the whole budget.
            clock_start = calendar.next_opening(t).ok()?;
            due = calendar
                .due_at(clock_start, WorkingTime::seconds(budget))
                .ok()?;
            if self.rng.random::<f64>() < 0.06 {
                // A second request: the rule says to ask once, completely.
                t = shared.advance(t, self.rng.random_range(HOUR..DAY));
                let reason = self.small(SUPPLEMENT_REASONS.len());
                self.push(
                    t,
                    Act::SupplementRequested {
                        officer: officer.officer,
                        reason,
                    },
                );
                t = shared.advance(t, self.rng.random_range(HOUR..5 * DAY));
                self.push(t, Act::SupplementReceived);
                clock_start = calendar.next_opening(t).ok()?;
                due = calendar
                    .due_at(clock_start, WorkingTime::seconds(budget))
                    .ok()?;
            }
            if fate == Fate::Late {
                // Keep a late file late after the restart: the remaining work alone overruns.
                let remaining = officer_work + used[1] / 10 + used[2] + used[3];
                let wanted = (total_share * budget as f64) as i64;
                if remaining > 0 && wanted > remaining {
                    let factor = wanted as f64 / remaining as f64;
                    officer_work = (officer_work as f64 * factor) as i64;
                    used[2] = (used[2] as f64 * factor) as i64;
                    used[3] = (used[3] as f64 * factor) as i64;
                }
            }
        }
        // Consultation of another department on longer province procedures.
        let mut consultation_answer: Option<DateTime<Utc>> = None;
        if center.commune.is_none() && budget >= 5 * DAY && self.rng.random::<f64>() < 0.06 {
            let own_department = shared.province.units[division].parent;
            let consulted = shared
                .departments
                .get(self.rng.random_range(0..shared.departments.len().max(1)))
                .copied()
                .filter(|unit| Some(*unit) != own_department);
            if let Some(consulted) = consulted {
                let days: u8 = if budget >= 10 * DAY { 5 } else { 3 };
                let asked = shared.advance(t, officer_work / 5);
                self.push(
                    asked,
                    Act::ConsultationRequested {
                        unit: u32::try_from(consulted).ok()?,
                        days,
                    },
                );
                let limit = i64::from(days) * DAY;
                let answer_after = if self.rng.random::<f64>() < 0.15 {
                    limit + self.rng.random_range(HOUR..3 * DAY)
                } else {
                    self.rng.random_range(HOUR..limit)
                };
                let answered = shared.advance(asked, answer_after);
                self.push(
                    answered,
                    Act::ConsultationAnswered {
                        unit: u32::try_from(consulted).ok()?,
                    },
                );
                consultation_answer = Some(answered);
            }
        }
        // Buck-passing: the file goes to another division and back, twice.
        if buck_passing {
            let other = shared
                .province
                .units
                .iter()
                .enumerate()
                .filter(|(idx, unit)| {
                    *idx != division
                        && unit.parent == shared.province.units[division].parent
                        && unit.kind == super::province::UnitKindName::Division
                })
                .map(|(idx, _)| idx)
                .next();
            if let Some(other) = other {
                let other_officer = self.holder(other, t, Role::Staff)?;
                // The passing wastes time: a third more than planned.
                officer_work += officer_work / 3;
                let slice = officer_work / 6;
                let mut from = officer;
                for to in [other_officer, officer, other_officer, officer] {
                    t = shared.advance(t, slice);
                    self.push(t, Act::HandedOver { from, to, step: 1 });
                    from = to;
                }
                officer_work -= 4 * slice;
            }
        }
        if fate == Fate::Withdrawn {
            t = shared.advance(t, officer_work / 2);
            self.push(t, Act::Withdrawn);
            return Some(Some(fate));
        }
        t = shared.advance(t, officer_work);
        if let Some(answered) = consultation_answer {
            if answered >= t {
                t = shared.advance(answered, HOUR);
            }
        }
        if fate == Fate::Stopped {
            let reason = self.small(STOP_REASONS.len());
            self.push(t, Act::Stopped { reason });
            return Some(Some(fate));
        }
        self.push(
            t,
            Act::HandedOver {
                from: officer,
                to: division_head,
                step: 1,
            },
        );
        t = shared.advance(t, used[1] / 10);
        if fate == Fate::Rejected {
            let reason = self.small(REJECTION_REASONS.len());
            self.push(t, Act::Rejected { reason });
            return Some(Some(fate));
        }
        // 5. Approval by the head of the department or commune.
        let approver = self.holder(approver_unit, t, Role::Head)?;
        self.push(
            t,
            Act::HandedOver {
                from: division_head,
                to: approver,
                step: 2,
            },
        );
        t = shared.advance(t, used[2]);
        let return_desk = self.holder(desk_unit, t, Role::Staff)?;
        self.push(
            t,
            Act::HandedOver {
                from: approver,
                to: return_desk,
                step: 3,
            },
        );
        // 6. Financial obligation, where it stops the clock, before the result is handed back.
        if procedure.stops_for_financial_obligation && self.rng.random::<f64>() < 0.85 {
            t = shared.advance(t, self.rng.random_range(10 * 60..HOUR));
            self.push(
                t,
                Act::FinancialRequested {
                    procedure: procedure_key,
                },
            );
            let requested = t;
            t = shared.advance(t, self.rng.random_range(HOUR..6 * DAY));
            self.push(t, Act::FinancialFulfilled);
            paused += calendar.elapsed(requested, t).as_secs();
        }
        t = shared.advance(t, used[3]);
        let due_with_pauses = calendar
            .due_at(clock_start, WorkingTime::seconds(budget + paused))
            .unwrap_or(due);
        // 7. Extensions, for some of the files that will be late.
        if t > due_with_pauses && self.rng.random::<f64>() < 0.45 {
            self.flags.extended = true;
            let timely = self.rng.random::<f64>() < 0.7;
            let issued_back = if timely {
                DAY + self.rng.random_range(HOUR..DAY)
            } else {
                self.rng.random_range(0..4 * HOUR)
            };
            let before_due = calendar
                .elapsed(clock_start, due_with_pauses)
                .as_secs()
                .saturating_sub(issued_back)
                .max(MIN_GAP_SECS);
            let issued = shared
                .advance(clock_start, before_due)
                .max(DateTime::from_timestamp(self.last_of_reception(), 0)?);
            let new_due =
                shared.advance(t.max(due_with_pauses), self.rng.random_range(HOUR..2 * DAY));
            let reason = self.small(EXTENSION_REASONS.len());
            self.push_unordered(
                issued,
                Act::Extended {
                    reason,
                    new_due: new_due.timestamp(),
                },
            );
            if self.rng.random::<f64>() < 0.05 {
                let again = shared.advance(issued, HOUR);
                let later_due = shared.advance(new_due, 3 * DAY);
                let reason = self.small(EXTENSION_REASONS.len());
                self.push_unordered(
                    again,
                    Act::Extended {
                        reason,
                        new_due: later_due.timestamp(),
                    },
                );
            }
        }
        self.push(
            t,
            Act::Resolved {
                holder: return_desk,
            },
        );
        // The applicant collects the result: at once for same-day procedures, else within days.
        let pickup = if same_day {
            self.rng.random_range(5 * 60..HOUR)
        } else {
            self.rng.random_range(10 * 60..3 * DAY)
        };
        let returned = shared.advance(t, pickup);
        self.push(returned, Act::Returned);
        let finished_late = t > due_with_pauses;
        Some(Some(if finished_late {
            Fate::Late
        } else {
            Fate::OnTime
        }))
    }

    /// Appends an event at `at`, at least a minute after the previous one.
    fn push(&mut self, at: DateTime<Utc>, act: Act) {
        let secs = at.timestamp().max(self.last + MIN_GAP_SECS);
        self.last = secs;
        self.out.push((secs, act));
    }

    /// Appends an event that lies between earlier ones (an extension), keeping the file's
    /// events in time order and never tying with a neighbour.
    fn push_unordered(&mut self, at: DateTime<Utc>, act: Act) {
        let mut secs = at.timestamp();
        while self.out.iter().any(|(other, _)| *other == secs) {
            secs += 1;
        }
        let position = self.out.partition_point(|(other, _)| *other < secs);
        self.out.insert(position, (secs, act));
        self.last = self.last.max(secs);
    }

    /// The instant after the reception (the second event), so an extension is never
    /// issued before the file was received.
    fn last_of_reception(&self) -> i64 {
        self.out
            .iter()
            .find(|(_, act)| matches!(act, Act::Received { .. }))
            .map_or(0, |(at, _)| at + MIN_GAP_SECS)
    }

    /// An officer of `unit` holding the file at `at`.
    fn holder(&mut self, unit: usize, at: DateTime<Utc>, role: Role) -> Option<Holder> {
        let head = self.shared.head_of(unit, at);
        let staff = self.shared.staff_of(unit, at);
        let officer = match role {
            Role::Head => head.or_else(|| staff.first().copied()),
            Role::Staff if staff.is_empty() => head,
            Role::Staff => Some(staff[self.rng.random_range(0..staff.len())]),
        }?;
        Some(Holder {
            officer,
            unit: u32::try_from(unit).ok()?,
        })
    }

    fn small(&mut self, len: usize) -> u8 {
        u8::try_from(self.rng.random_range(0..len.max(1))).unwrap_or(0)
    }
}

/// Which officer of a unit to pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Head,
    Staff,
}

/// Minutes since midnight, for arrival times.
trait MinutesOfDay {
    fn num_seconds_from_midnight_minutes(&self) -> u32;
}

impl MinutesOfDay for NaiveTime {
    fn num_seconds_from_midnight_minutes(&self) -> u32 {
        chrono::Timelike::num_seconds_from_midnight(self) / 60
    }
}

/// A Poisson count with mean `mean`: Knuth's method for small means, the normal
/// approximation for large ones.
fn poisson(rng: &mut ChaCha8Rng, mean: f64) -> u64 {
    if mean <= 0.0 {
        return 0;
    }
    if mean < 30.0 {
        let limit = (-mean).exp();
        let mut product = rng.random::<f64>();
        let mut count = 0;
        while product > limit {
            count += 1;
            product *= rng.random::<f64>();
        }
        return count;
    }
    // Box–Muller.
    let u1 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2 = rng.random::<f64>();
    let normal = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    (mean + mean.sqrt() * normal).round().max(0.0) as u64
}

/// A triangular variate on `[0, 1)` with its mode at `mode`.
fn triangular(rng: &mut ChaCha8Rng, mode: f64) -> f64 {
    let u = rng.random::<f64>();
    if u < mode {
        (u * mode).sqrt()
    } else {
        1.0 - ((1.0 - u) * (1.0 - mode)).sqrt()
    }
}

fn yymmdd(day: NaiveDate) -> u32 {
    let year = u32::try_from(day.year().rem_euclid(100)).unwrap_or(0);
    year * 10_000 + day.month() * 100 + day.day()
}

fn timestamp(secs: i64) -> Timestamp {
    Timestamp {
        seconds: secs,
        nanos: 0,
    }
}

fn pick_text(texts: &[&str], index: u8) -> String {
    texts
        .get(usize::from(index))
        .or_else(|| texts.first())
        .map(|text| (*text).to_owned())
        .unwrap_or_default()
}
