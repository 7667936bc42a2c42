//! The simulated province: its unit tree, officers with dated memberships and unit heads,
//! and the procedures it handles with their internal steps and published deadlines.
//!
//! [`Province::generate`] is a pure function of its [`ProvinceConfig`]: the same seed and
//! commune count give the same province, byte for byte. The province is rendered as a
//! catalog document ([`Province::catalog_document`], the TOML format of
//! `crate::catalog_file`) and as domain objects ([`Province::catalog`], the same document
//! parsed and merged into the shipped catalog), so that what the demo loads over gRPC and
//! what the generator plans with can never disagree.
//!
//! The shape follows a Vietnamese province after the 2025 reorganization: the provincial
//! People's Committee, 14 departments (sở) with their divisions (phòng), the provincial
//! public-administration center, and communes, each with a one-stop center, an office and
//! two divisions. Procedure codes have the shape of the national database's codes
//! (`1.00xxxx`, `2.00xxxx`); the codes, names and deadlines are illustrative, not a copy of
//! the national database.
//!
//! This module never does I/O.

use std::fmt::Write as _;

use chrono::NaiveDate;
use dunghan_domain::catalog::Catalog;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use super::DemoError;
use crate::catalog_file::{self, Format};

/// Seconds in one working hour.
const HOUR: i64 = 3_600;

/// Seconds in one working day (8 working hours on the Vietnamese default week).
const DAY: i64 = 8 * HOUR;

/// The id of the province unit.
pub const PROVINCE_UNIT: &str = "tinh";

/// The id of the provincial public-administration center.
pub const PROVINCE_CENTER: &str = "ttphvhcc";

/// The calendar every unit uses: the shipped Vietnamese calendar.
const CALENDAR: &str = "vn";

/// How the province is generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProvinceConfig {
    /// The seed of every random choice (names, division counts, transfers).
    pub seed: u64,
    /// Communes (xã, phường), each with its one-stop center.
    pub communes: usize,
    /// The date the catalog takes effect; memberships and heads start on it.
    pub effective_from: NaiveDate,
    /// The date on which some officers move and some heads change (dated terms).
    pub reshuffle_on: NaiveDate,
}

/// The kind of a unit, as the catalog document spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitKindName {
    /// The provincial People's Committee.
    Province,
    /// A department (sở) or a province-level agency.
    Department,
    /// A division (phòng) of a department or a commune.
    Division,
    /// A commune or ward.
    Commune,
    /// A one-stop center (provincial or commune).
    Center,
}

/// One unit of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitSpec {
    /// Catalog id, e.g. `so-xd-qlxd`.
    pub id: String,
    /// Vietnamese name.
    pub name: String,
    /// Its kind.
    pub kind: UnitKindName,
    /// Index of the parent unit in [`Province::units`]; `None` for the province.
    pub parent: Option<usize>,
    /// Its heads, dated; `Term::who` is an index into [`Province::officers`].
    pub heads: Vec<Term>,
}

/// A dated term: a membership (unit index) or a head (officer index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Term {
    /// The unit (for memberships) or the officer (for heads), as an index.
    pub who: usize,
    /// First day of the term.
    pub from: NaiveDate,
    /// Day the term ends (exclusive); `None` while it lasts.
    pub until: Option<NaiveDate>,
}

/// One officer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficerSpec {
    /// Catalog id, e.g. `cb-0042`.
    pub id: String,
    /// Vietnamese full name.
    pub name: String,
    /// Units the officer belonged to, dated, in order; `Term::who` indexes [`Province::units`].
    pub memberships: Vec<Term>,
}

/// Where a procedure is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Received at the provincial center, appraised by a department's division, approved by
    /// the department's head.
    Province,
    /// Received at a commune's center, appraised by one of the commune's divisions, approved
    /// by the commune's chair.
    Commune,
}

/// The unit of a published deadline, as the catalog document spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineUnitName {
    /// Working hours.
    WorkingHours,
    /// Working days.
    WorkingDays,
    /// Calendar days.
    CalendarDays,
}

/// What a step is for; the generator picks its holder by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepRole {
    /// Reception at the one-stop desk (tiếp nhận).
    Reception,
    /// Appraisal by a division (thẩm định).
    Appraisal,
    /// Approval by the head of the department or commune (phê duyệt).
    Approval,
    /// Handing the result back at the desk (trả kết quả).
    Return,
}

/// One internal step of a procedure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepSpec {
    /// Step code, e.g. `tham-dinh`.
    pub code: &'static str,
    /// Vietnamese name.
    pub name: &'static str,
    /// What it is for.
    pub role: StepRole,
    /// Allotted working time, in seconds.
    pub allotted_secs: i64,
}

/// One published procedure.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcedureSpec {
    /// National-style code, e.g. `1.001193`.
    pub code: &'static str,
    /// Vietnamese name.
    pub name: &'static str,
    /// Field (lĩnh vực) code, e.g. `ho-tich`.
    pub field: &'static str,
    /// Where it is handled.
    pub level: Level,
    /// Deadline amount.
    pub deadline_amount: u32,
    /// Deadline unit.
    pub deadline_unit: DeadlineUnitName,
    /// Whether working days are counted by the Civil Code rule rather than working hours.
    pub civil_code: bool,
    /// Same-day cut-off hour (15 for 15:00), if any.
    pub cutoff_hour: Option<u32>,
    /// Whether waiting for a financial obligation stops the clock.
    pub stops_for_financial_obligation: bool,
    /// The appraising unit: a division index for province procedures; for commune ones,
    /// the commune division suffix (`vp`, `kt`, `vhxh`).
    pub appraisal: Appraisal,
    /// Relative frequency among the procedures of its level.
    pub weight: f64,
    /// Steps in order; their allotments add up to the deadline.
    pub steps: Vec<StepSpec>,
}

/// Which unit appraises a procedure's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appraisal {
    /// A division of a department: its index in [`Province::units`].
    Division(usize),
    /// A commune division, by suffix of the commune's unit id.
    CommuneDivision(&'static str),
}

/// A one-stop center that receives files.
#[derive(Debug, Clone, PartialEq)]
pub struct CenterSpec {
    /// The center's unit index.
    pub unit: usize,
    /// The commune it serves (its unit index), or `None` for the provincial center.
    pub commune: Option<usize>,
    /// Short number used in file ids (`000.00.{number}.H99-…`).
    pub number: u32,
    /// Average files received on an ordinary working day.
    pub files_per_day: f64,
}

/// A generated province.
#[derive(Debug, Clone)]
pub struct Province {
    /// The configuration it was generated from.
    pub config: ProvinceConfig,
    /// Its name, e.g. `tỉnh Sơn Hà`.
    pub name: String,
    /// Every unit; index 0 is the province, 1 the provincial center.
    pub units: Vec<UnitSpec>,
    /// Every officer.
    pub officers: Vec<OfficerSpec>,
    /// Every procedure.
    pub procedures: Vec<ProcedureSpec>,
    /// Every center that receives files; index 0 is the provincial center.
    pub centers: Vec<CenterSpec>,
}

/// The 14 departments of a province after the 2025 reorganization: id, name, divisions.
/// A department row: id, name, and its divisions as (id suffix, name).
type DepartmentRow = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const DEPARTMENTS: [DepartmentRow; 14] = [
    (
        "so-nv",
        "Sở Nội vụ",
        &[
            ("ccvc", "Phòng Công chức, viên chức"),
            ("vl", "Phòng Việc làm - An toàn lao động"),
            ("bhxh", "Phòng Bảo trợ xã hội"),
        ],
    ),
    (
        "so-tc",
        "Sở Tài chính",
        &[
            ("dkkd", "Phòng Đăng ký kinh doanh"),
            ("dt", "Phòng Đầu tư"),
            ("ns", "Phòng Quản lý ngân sách"),
        ],
    ),
    (
        "so-tp",
        "Sở Tư pháp",
        &[
            ("lltp", "Phòng Hành chính tư pháp và Lý lịch tư pháp"),
            ("btp", "Phòng Bổ trợ tư pháp"),
        ],
    ),
    (
        "so-xd",
        "Sở Xây dựng",
        &[
            ("qlxd", "Phòng Quản lý xây dựng"),
            ("qhkt", "Phòng Quy hoạch - Kiến trúc"),
            ("qlvt", "Phòng Quản lý vận tải, phương tiện và người lái"),
        ],
    ),
    (
        "so-nnmt",
        "Sở Nông nghiệp và Môi trường",
        &[
            ("vpdk", "Văn phòng Đăng ký đất đai"),
            ("qldd", "Phòng Quản lý đất đai"),
            ("mt", "Phòng Môi trường"),
        ],
    ),
    (
        "so-ct",
        "Sở Công Thương",
        &[
            ("qltm", "Phòng Quản lý thương mại"),
            ("nl", "Phòng Quản lý năng lượng"),
        ],
    ),
    (
        "so-yt",
        "Sở Y tế",
        &[
            ("nvd", "Phòng Nghiệp vụ Dược"),
            ("nvy", "Phòng Nghiệp vụ Y"),
        ],
    ),
    (
        "so-gddt",
        "Sở Giáo dục và Đào tạo",
        &[
            ("ktcl", "Phòng Khảo thí và Quản lý chất lượng"),
            ("gdtx", "Phòng Giáo dục thường xuyên"),
        ],
    ),
    (
        "so-vhttdl",
        "Sở Văn hóa, Thể thao và Du lịch",
        &[
            ("qldl", "Phòng Quản lý du lịch"),
            ("qlvh", "Phòng Quản lý văn hóa"),
        ],
    ),
    (
        "so-khcn",
        "Sở Khoa học và Công nghệ",
        &[
            ("bcvt", "Phòng Bưu chính - Viễn thông"),
            ("qlcn", "Phòng Quản lý công nghệ"),
        ],
    ),
    (
        "so-ngv",
        "Sở Ngoại vụ",
        &[("ls", "Phòng Lãnh sự"), ("htqt", "Phòng Hợp tác quốc tế")],
    ),
    (
        "so-dttg",
        "Sở Dân tộc và Tôn giáo",
        &[
            ("tg", "Phòng Quản lý tôn giáo"),
            ("cs", "Phòng Chính sách dân tộc"),
        ],
    ),
    (
        "thanh-tra",
        "Thanh tra tỉnh",
        &[
            ("tcd", "Phòng Tiếp công dân và Xử lý đơn"),
            ("gqkn", "Phòng Giải quyết khiếu nại, tố cáo"),
        ],
    ),
    (
        "vp-ubnd",
        "Văn phòng Ủy ban nhân dân tỉnh",
        &[
            ("ksthc", "Phòng Kiểm soát thủ tục hành chính"),
            ("th", "Phòng Tổng hợp"),
        ],
    ),
];

/// The divisions of every commune: id suffix and name.
const COMMUNE_DIVISIONS: [(&str, &str); 3] = [
    ("vp", "Văn phòng HĐND và UBND"),
    ("kt", "Phòng Kinh tế"),
    ("vhxh", "Phòng Văn hóa - Xã hội"),
];

/// A procedure row: code, name, field, level, appraising unit (department division
/// `"so-xd/qlxd"` or commune division suffix), deadline amount, unit, civil-code counting,
/// cut-off hour, stops for financial obligation, weight.
type ProcedureRow = (
    &'static str,
    &'static str,
    &'static str,
    Level,
    &'static str,
    u32,
    DeadlineUnitName,
    bool,
    Option<u32>,
    bool,
    f64,
);

/// The procedures of the demo province.
// A table reads best one procedure a line.
#[rustfmt::skip]
const PROCEDURES: [ProcedureRow; 37] = {
    use DeadlineUnitName::{CalendarDays as Cd, WorkingDays as Wd, WorkingHours as Wh};
    use Level::{Commune as C, Province as P};
    [
        // Province level, received at the provincial center.
        ("1.002804", "Đổi giấy phép lái xe do ngành Giao thông vận tải cấp", "giao-thong", P, "so-xd/qlvt", 5, Wd, false, None, false, 25.0),
        ("2.001610", "Đăng ký thành lập doanh nghiệp tư nhân", "kinh-doanh", P, "so-tc/dkkd", 3, Wd, false, None, false, 6.0),
        ("2.002042", "Đăng ký thành lập công ty trách nhiệm hữu hạn một thành viên", "kinh-doanh", P, "so-tc/dkkd", 3, Wd, false, None, false, 8.0),
        ("2.001199", "Đăng ký thay đổi nội dung đăng ký doanh nghiệp", "kinh-doanh", P, "so-tc/dkkd", 3, Wd, false, None, false, 10.0),
        ("2.000505", "Cấp Phiếu lý lịch tư pháp cho công dân Việt Nam", "tu-phap", P, "so-tp/lltp", 10, Wd, false, None, false, 10.0),
        ("1.001009", "Đăng ký biến động quyền sử dụng đất của tổ chức", "dat-dai", P, "so-nnmt/vpdk", 10, Wd, false, None, true, 4.0),
        ("1.004203", "Giao đất, cho thuê đất cho tổ chức", "dat-dai", P, "so-nnmt/qldd", 20, Wd, false, None, true, 0.8),
        ("1.009972", "Cấp giấy phép xây dựng mới đối với công trình cấp I, II", "xay-dung", P, "so-xd/qlxd", 20, Wd, true, None, false, 1.0),
        ("1.000459", "Cấp giấy phép lao động cho người lao động nước ngoài", "lao-dong", P, "so-nv/vl", 5, Wd, false, None, false, 3.0),
        ("1.001865", "Giải quyết hưởng trợ cấp thất nghiệp", "lao-dong", P, "so-nv/vl", 20, Wd, false, None, false, 4.0),
        ("1.004616", "Cấp chứng chỉ hành nghề dược", "y-te", P, "so-yt/nvd", 20, Wd, false, None, false, 2.0),
        ("1.003001", "Cấp giấy phép hành nghề khám bệnh, chữa bệnh", "y-te", P, "so-yt/nvy", 20, Wd, false, None, false, 1.5),
        ("1.005092", "Cấp bản sao văn bằng, chứng chỉ từ sổ gốc", "giao-duc", P, "so-gddt/ktcl", 4, Wh, false, Some(15), false, 5.0),
        ("1.005388", "Chỉnh sửa nội dung văn bằng, chứng chỉ", "giao-duc", P, "so-gddt/ktcl", 5, Wd, false, None, false, 0.6),
        ("1.004551", "Cấp giấy phép kinh doanh dịch vụ lữ hành nội địa", "du-lich", P, "so-vhttdl/qldl", 10, Wd, false, None, false, 0.5),
        ("2.000620", "Cấp giấy phép bán lẻ sản phẩm rượu", "thuong-mai", P, "so-ct/qltm", 10, Wd, false, None, false, 1.5),
        ("2.000176", "Cấp giấy phép bưu chính", "buu-chinh", P, "so-khcn/bcvt", 10, Wd, false, None, false, 0.3),
        ("2.002228", "Giải quyết khiếu nại lần đầu", "khieu-nai", P, "thanh-tra/gqkn", 30, Cd, false, None, false, 0.5),
        ("1.001078", "Đăng ký sinh hoạt tôn giáo tập trung", "ton-giao", P, "so-dttg/tg", 20, Cd, false, None, false, 0.2),
        // Commune level, received at the commune centers.
        ("2.000908", "Chứng thực bản sao từ bản chính giấy tờ, văn bản", "chung-thuc", C, "vp", 4, Wh, false, Some(15), false, 30.0),
        ("2.000884", "Chứng thực chữ ký trong các giấy tờ, văn bản", "chung-thuc", C, "vp", 4, Wh, false, Some(15), false, 8.0),
        ("2.001035", "Chứng thực hợp đồng, giao dịch liên quan đến tài sản là bất động sản", "chung-thuc", C, "vp", 2, Wd, false, None, false, 4.0),
        ("1.001193", "Đăng ký khai sinh", "ho-tich", C, "vp", 4, Wh, false, Some(15), false, 10.0),
        ("1.000894", "Đăng ký kết hôn", "ho-tich", C, "vp", 1, Wd, false, None, false, 4.0),
        ("1.001022", "Đăng ký khai tử", "ho-tich", C, "vp", 4, Wh, false, Some(15), false, 3.0),
        ("1.004873", "Cấp bản sao trích lục hộ tịch", "ho-tich", C, "vp", 4, Wh, false, Some(15), false, 8.0),
        ("1.004746", "Cấp giấy xác nhận tình trạng hôn nhân", "ho-tich", C, "vp", 3, Wd, false, None, false, 5.0),
        ("1.004859", "Đăng ký thay đổi, cải chính hộ tịch", "ho-tich", C, "vp", 3, Wd, false, None, false, 1.0),
        ("1.004222", "Đăng ký biến động quyền sử dụng đất, tài sản gắn liền với đất", "dat-dai", C, "kt", 10, Wd, false, None, true, 6.0),
        ("1.004227", "Đăng ký, cấp Giấy chứng nhận quyền sử dụng đất lần đầu", "dat-dai", C, "kt", 20, Wd, false, None, true, 2.0),
        ("1.004238", "Tách thửa hoặc hợp thửa đất", "dat-dai", C, "kt", 15, Wd, false, None, true, 1.5),
        ("1.009975", "Hòa giải tranh chấp đất đai", "dat-dai", C, "kt", 30, Cd, false, None, false, 0.3),
        ("1.010007", "Cấp giấy phép xây dựng nhà ở riêng lẻ", "xay-dung", C, "kt", 15, Wd, true, None, false, 2.0),
        ("2.000720", "Đăng ký thành lập hộ kinh doanh", "kinh-doanh", C, "kt", 3, Wd, false, None, false, 3.0),
        ("2.000575", "Đăng ký thay đổi nội dung đăng ký hộ kinh doanh", "kinh-doanh", C, "kt", 3, Wd, false, None, false, 1.5),
        ("1.001776", "Thực hiện trợ cấp xã hội hằng tháng", "bao-tro-xa-hoi", C, "vhxh", 15, Wd, false, None, false, 1.5),
        ("1.001731", "Hỗ trợ chi phí mai táng cho đối tượng bảo trợ xã hội", "bao-tro-xa-hoi", C, "vhxh", 5, Wd, false, None, false, 0.5),
    ]
};

/// Family names, middle names and given names for officers.
const FAMILY_NAMES: [&str; 16] = [
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ",
    "Hồ", "Ngô", "Dương", "Lý",
];
const MIDDLE_NAMES: [&str; 10] = [
    "Văn", "Thị", "Đức", "Minh", "Thanh", "Ngọc", "Hữu", "Quang", "Thu", "Xuân",
];
const GIVEN_NAMES: [&str; 28] = [
    "An", "Bình", "Cường", "Dũng", "Hà", "Hải", "Hạnh", "Hoa", "Hùng", "Hương", "Lan", "Linh",
    "Long", "Mai", "Nam", "Nga", "Phong", "Phương", "Quân", "Sơn", "Tâm", "Thảo", "Trang", "Tuấn",
    "Vân", "Yến", "Khánh", "Thắng",
];

/// Syllables of commune names.
const PLACE_FIRST: [&str; 16] = [
    "Tân", "Đông", "Tây", "Nam", "Bắc", "Phú", "Hòa", "An", "Thạnh", "Long", "Vĩnh", "Bình",
    "Hưng", "Quang", "Thanh", "Mỹ",
];
const PLACE_SECOND: [&str; 16] = [
    "Lập", "Hòa", "Sơn", "Thủy", "Phong", "Lộc", "Thịnh", "Xuân", "Hiệp", "Trung", "Khánh",
    "Phước", "Yên", "Thành", "Điền", "Lâm",
];

impl ProvinceConfig {
    /// The demo's defaults for `seed` and `communes`: the catalog in force from 1 July
    /// 2025 (the reorganization and Decree 118/2025), with a reshuffle on 1 January 2026.
    pub fn new(seed: u64, communes: usize) -> ProvinceConfig {
        ProvinceConfig {
            seed,
            communes,
            effective_from: date(2025, 7, 1),
            reshuffle_on: date(2026, 1, 1),
        }
    }
}

impl Province {
    /// Generates the province of `config`: the same config always gives the same province.
    pub fn generate(config: ProvinceConfig) -> Province {
        let mut builder = Builder {
            rng: ChaCha8Rng::seed_from_u64(config.seed ^ 0x5052_4f56_494e_4345),
            config,
            units: Vec::new(),
            officers: Vec::new(),
        };
        builder.build()
    }

    /// The province rendered as a catalog document in TOML (the format of
    /// `crate::catalog_file`, documented in README.md).
    pub fn catalog_document(&self) -> String {
        let mut text = String::new();
        self.write_document(&mut text);
        text
    }

    /// The shipped catalog extended with this province: the document of
    /// [`Province::catalog_document`] parsed and merged, as the server will hold it.
    ///
    /// # Errors
    /// [`DemoError::Catalog`] if the document does not parse or merge (a bug in the
    /// generator; tested).
    pub fn catalog(&self) -> Result<Catalog, DemoError> {
        let text = self.catalog_document();
        let to_error = |errors: Vec<catalog_file::DocumentError>| DemoError::Catalog {
            errors: errors.iter().map(ToString::to_string).collect(),
        };
        let document = catalog_file::parse(&text, Format::Toml).map_err(to_error)?;
        document
            .merge_into(&catalog_file::default_catalog(), &text, Format::Toml)
            .map_err(to_error)
    }

    /// The officers who belong to `unit` on `on`, as indexes into [`Province::officers`].
    pub fn members_on(&self, unit: usize, on: NaiveDate) -> Vec<usize> {
        self.officers
            .iter()
            .enumerate()
            .filter(|(_, officer)| {
                officer
                    .memberships
                    .iter()
                    .any(|term| term.who == unit && term.holds_on(on))
            })
            .map(|(idx, _)| idx)
            .collect()
    }

    /// The head of `unit` on `on`, as an index into [`Province::officers`].
    pub fn head_on(&self, unit: usize, on: NaiveDate) -> Option<usize> {
        self.units
            .get(unit)?
            .heads
            .iter()
            .find(|term| term.holds_on(on))
            .map(|term| term.who)
    }

    /// The unit index of `id`.
    pub fn unit_index(&self, id: &str) -> Option<usize> {
        self.units.iter().position(|unit| unit.id == id)
    }

    fn write_document(&self, text: &mut String) {
        let from = self.config.effective_from;
        // `write!` into a String cannot fail; the results are ignored on purpose.
        let _ = writeln!(
            text,
            "# The demo province {} (seed {}, {} communes), generated by `dunghan demo`.\n\
             # Units, officers with dated memberships and heads, and procedures whose step\n\
             # allotments add up to their published deadlines. Illustrative data.\n",
            self.name, self.config.seed, self.config.communes
        );
        for unit in &self.units {
            let _ = writeln!(text, "[[unit]]");
            let _ = writeln!(text, "id = {}", quote(&unit.id));
            let _ = writeln!(text, "name = {}", quote(&unit.name));
            let _ = writeln!(text, "kind = \"{}\"", unit.kind.as_str());
            if let Some(parent) = unit.parent {
                let _ = writeln!(text, "parent = {}", quote(&self.units[parent].id));
            }
            let _ = writeln!(text, "calendar = \"{CALENDAR}\"");
            if !unit.heads.is_empty() {
                let terms: Vec<String> = unit
                    .heads
                    .iter()
                    .map(|term| term.render(&self.officers[term.who].id))
                    .collect();
                let _ = writeln!(text, "heads = [{}]", terms.join(", "));
            }
            let _ = writeln!(text, "effective_from = \"{from}\"\n");
        }
        for officer in &self.officers {
            let _ = writeln!(text, "[[officer]]");
            let _ = writeln!(text, "id = {}", quote(&officer.id));
            let _ = writeln!(text, "name = {}", quote(&officer.name));
            let terms: Vec<String> = officer
                .memberships
                .iter()
                .map(|term| term.render(&self.units[term.who].id))
                .collect();
            let _ = writeln!(text, "memberships = [{}]", terms.join(", "));
            let _ = writeln!(text, "effective_from = \"{from}\"\n");
        }
        for procedure in &self.procedures {
            let _ = writeln!(text, "[[procedure]]");
            let _ = writeln!(text, "code = {}", quote(procedure.code));
            let _ = writeln!(text, "name = {}", quote(procedure.name));
            let _ = writeln!(text, "field = {}", quote(procedure.field));
            let _ = writeln!(text, "level = \"{}\"", procedure.level.as_str());
            let _ = writeln!(text, "effective_from = \"{from}\"");
            let _ = writeln!(
                text,
                "deadline = {{ amount = {}, unit = \"{}\" }}",
                procedure.deadline_amount,
                procedure.deadline_unit.as_str()
            );
            if procedure.civil_code {
                let _ = writeln!(text, "counting = \"civil-code\"");
            }
            if let Some(hour) = procedure.cutoff_hour {
                let _ = writeln!(text, "cutoff = \"{hour:02}:00\"");
            }
            if procedure.stops_for_financial_obligation {
                let _ = writeln!(text, "stops_clock = [\"financial-obligation\"]");
            }
            for step in &procedure.steps {
                let _ = writeln!(text, "[[procedure.step]]");
                let _ = writeln!(text, "code = \"{}\"", step.code);
                let _ = writeln!(text, "name = {}", quote(step.name));
                match (procedure.level, step.role, procedure.appraisal) {
                    (Level::Province, StepRole::Reception | StepRole::Return, _) => {
                        let _ = writeln!(text, "unit = \"{PROVINCE_CENTER}\"");
                    }
                    (Level::Province, StepRole::Appraisal, Appraisal::Division(division)) => {
                        let _ = writeln!(text, "unit = {}", quote(&self.units[division].id));
                    }
                    (Level::Province, StepRole::Approval, Appraisal::Division(division)) => {
                        if let Some(department) = self.units[division].parent {
                            let _ = writeln!(text, "unit = {}", quote(&self.units[department].id));
                        }
                    }
                    _ => {}
                }
                let _ = writeln!(text, "role = \"{}\"", step.role.as_str());
                let _ = writeln!(
                    text,
                    "allotted = \"{}\"",
                    render_working_time(step.allotted_secs)
                );
            }
            let _ = writeln!(text);
        }
    }
}

impl Term {
    /// Whether the term holds on `on`.
    pub fn holds_on(&self, on: NaiveDate) -> bool {
        self.from <= on && self.until.is_none_or(|until| on < until)
    }

    fn render(&self, id: &str) -> String {
        match self.until {
            Some(until) => format!(
                "{{ id = {}, from = \"{}\", until = \"{until}\" }}",
                quote(id),
                self.from
            ),
            None => format!("{{ id = {}, from = \"{}\" }}", quote(id), self.from),
        }
    }
}

impl UnitKindName {
    /// The catalog document's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            UnitKindName::Province => "province",
            UnitKindName::Department => "department",
            UnitKindName::Division => "division",
            UnitKindName::Commune => "commune",
            UnitKindName::Center => "center",
        }
    }
}

impl Level {
    /// The catalog document's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Province => "province",
            Level::Commune => "commune",
        }
    }
}

impl DeadlineUnitName {
    /// The catalog document's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DeadlineUnitName::WorkingHours => "working-hours",
            DeadlineUnitName::WorkingDays => "working-days",
            DeadlineUnitName::CalendarDays => "calendar-days",
        }
    }
}

impl StepRole {
    /// The role written in the catalog.
    pub fn as_str(self) -> &'static str {
        match self {
            StepRole::Reception => "mot-cua",
            StepRole::Appraisal => "chuyen-vien",
            StepRole::Approval => "lanh-dao",
            StepRole::Return => "mot-cua",
        }
    }
}

/// Builds a province, drawing from one seeded generator in a fixed order.
struct Builder {
    rng: ChaCha8Rng,
    config: ProvinceConfig,
    units: Vec<UnitSpec>,
    officers: Vec<OfficerSpec>,
}

impl Builder {
    fn build(&mut self) -> Province {
        let province = self.unit(
            PROVINCE_UNIT,
            "UBND tỉnh Sơn Hà",
            UnitKindName::Province,
            None,
        );
        let chair = self.officer(province);
        self.head(province, chair);
        let center = self.unit(
            PROVINCE_CENTER,
            "Trung tâm Phục vụ hành chính công tỉnh Sơn Hà",
            UnitKindName::Center,
            Some(province),
        );
        let center_director = self.officer(center);
        self.head(center, center_director);
        for _ in 0..10 {
            self.officer(center);
        }
        let mut division_ids = Vec::new();
        for (dept_id, dept_name, divisions) in DEPARTMENTS {
            let department =
                self.unit(dept_id, dept_name, UnitKindName::Department, Some(province));
            let director = self.officer(department);
            self.head(department, director);
            for (suffix, name) in divisions {
                let division = self.unit(
                    &format!("{dept_id}-{suffix}"),
                    name,
                    UnitKindName::Division,
                    Some(department),
                );
                let head = self.officer(division);
                self.head(division, head);
                let n_staff = self.rng.random_range(2..=4);
                for _ in 0..n_staff {
                    self.officer(division);
                }
                division_ids.push((format!("{dept_id}/{suffix}"), division));
            }
        }
        let mut centers = vec![CenterSpec {
            unit: center,
            commune: None,
            number: 0,
            files_per_day: 0.0,
        }];
        let mut used_names = std::collections::BTreeSet::new();
        let mut commune_rate_total = 0.0;
        for commune_idx in 0..self.config.communes {
            let number = u32::try_from(commune_idx + 1).unwrap_or(u32::MAX);
            let name = self.place_name(&mut used_names, commune_idx);
            let kind_word = if self.rng.random::<f64>() < 0.25 {
                "Phường"
            } else {
                "Xã"
            };
            let commune_id = format!("xa-{number:02}");
            let commune = self.unit(
                &commune_id,
                &format!("UBND {} {name}", kind_word.to_lowercase()),
                UnitKindName::Commune,
                Some(province),
            );
            let chair = self.officer(commune);
            self.head(commune, chair);
            let commune_center = self.unit(
                &format!("{commune_id}-mc"),
                &format!(
                    "Trung tâm Phục vụ hành chính công {} {name}",
                    kind_word.to_lowercase()
                ),
                UnitKindName::Center,
                Some(commune),
            );
            let n_desk = self.rng.random_range(2..=3);
            for desk_idx in 0..n_desk {
                let officer = self.officer(commune_center);
                if desk_idx == 0 {
                    self.head(commune_center, officer);
                }
            }
            for (suffix, division_name) in COMMUNE_DIVISIONS {
                let division = self.unit(
                    &format!("{commune_id}-{suffix}"),
                    division_name,
                    UnitKindName::Division,
                    Some(commune),
                );
                let head = self.officer(division);
                self.head(division, head);
                let n_staff = self.rng.random_range(1..=2);
                for _ in 0..n_staff {
                    self.officer(division);
                }
            }
            // Wards and large communes receive more: 25 to 120 files a working day.
            let size = self.rng.random::<f64>();
            let files_per_day = 25.0 + 95.0 * size * size;
            commune_rate_total += files_per_day;
            centers.push(CenterSpec {
                unit: commune_center,
                commune: Some(commune),
                number,
                files_per_day,
            });
        }
        // The provincial center takes about a third of what the communes take together,
        // and at least a steady stream in a small demo.
        centers[0].files_per_day = (commune_rate_total * 0.35).max(60.0);
        self.reshuffle();
        let procedures = PROCEDURES
            .iter()
            .map(|row| procedure_of(row, &division_ids))
            .collect();
        Province {
            config: self.config,
            name: "tỉnh Sơn Hà".to_owned(),
            units: std::mem::take(&mut self.units),
            officers: std::mem::take(&mut self.officers),
            procedures,
            centers,
        }
    }

    fn unit(&mut self, id: &str, name: &str, kind: UnitKindName, parent: Option<usize>) -> usize {
        self.units.push(UnitSpec {
            id: id.to_owned(),
            name: name.to_owned(),
            kind,
            parent,
            heads: Vec::new(),
        });
        self.units.len() - 1
    }

    fn officer(&mut self, unit: usize) -> usize {
        let family = FAMILY_NAMES[self.rng.random_range(0..FAMILY_NAMES.len())];
        let middle = MIDDLE_NAMES[self.rng.random_range(0..MIDDLE_NAMES.len())];
        let given = GIVEN_NAMES[self.rng.random_range(0..GIVEN_NAMES.len())];
        let number = self.officers.len() + 1;
        self.officers.push(OfficerSpec {
            id: format!("cb-{number:04}"),
            name: format!("{family} {middle} {given}"),
            memberships: vec![Term {
                who: unit,
                from: self.config.effective_from,
                until: None,
            }],
        });
        self.officers.len() - 1
    }

    fn head(&mut self, unit: usize, officer: usize) {
        self.units[unit].heads.push(Term {
            who: officer,
            from: self.config.effective_from,
            until: None,
        });
    }

    /// Moves a few staff officers to a sibling division and replaces a few division heads
    /// on the reshuffle date, so memberships and heads are really dated.
    fn reshuffle(&mut self) {
        let on = self.config.reshuffle_on;
        let divisions: Vec<usize> = (0..self.units.len())
            .filter(|&unit| self.units[unit].kind == UnitKindName::Division)
            .collect();
        for &division in &divisions {
            let roll = self.rng.random::<f64>();
            let head = self.units[division].heads.first().map(|term| term.who);
            let staff: Vec<usize> = (0..self.officers.len())
                .filter(|&officer| {
                    Some(officer) != head && self.officers[officer].memberships[0].who == division
                })
                .collect();
            if roll < 0.12 && staff.len() >= 2 {
                // A staff officer becomes the division's head; the old head stays as staff.
                let successor = staff[0];
                if let Some(term) = self.units[division].heads.first_mut() {
                    term.until = Some(on);
                }
                self.units[division].heads.push(Term {
                    who: successor,
                    from: on,
                    until: None,
                });
            } else if roll < 0.30 && staff.len() >= 2 {
                // The last staff officer moves to a sibling division.
                let parent = self.units[division].parent;
                let siblings: Vec<usize> = divisions
                    .iter()
                    .copied()
                    .filter(|&other| other != division && self.units[other].parent == parent)
                    .collect();
                if siblings.is_empty() {
                    continue;
                }
                let target = siblings[self.rng.random_range(0..siblings.len())];
                let mover = staff[staff.len() - 1];
                let memberships = &mut self.officers[mover].memberships;
                memberships[0].until = Some(on);
                memberships.push(Term {
                    who: target,
                    from: on,
                    until: None,
                });
            }
        }
    }

    fn place_name(
        &mut self,
        used: &mut std::collections::BTreeSet<String>,
        commune_idx: usize,
    ) -> String {
        for _ in 0..8 {
            let first = PLACE_FIRST[self.rng.random_range(0..PLACE_FIRST.len())];
            let second = PLACE_SECOND[self.rng.random_range(0..PLACE_SECOND.len())];
            let name = format!("{first} {second}");
            if used.insert(name.clone()) {
                return name;
            }
        }
        // After a few collisions, number the name so it stays unique.
        let name = format!("Tân Lập {}", commune_idx + 1);
        used.insert(name.clone());
        name
    }
}

/// The procedure of a table row, with steps whose allotments add up to the deadline.
fn procedure_of(row: &ProcedureRow, divisions: &[(String, usize)]) -> ProcedureSpec {
    let (code, name, field, level, appraiser, amount, unit, civil_code, cutoff, financial, weight) =
        *row;
    let appraisal = match level {
        Level::Province => Appraisal::Division(
            divisions
                .iter()
                .find(|(key, _)| key == appraiser)
                .map_or(0, |(_, idx)| *idx),
        ),
        Level::Commune => Appraisal::CommuneDivision(appraiser),
    };
    let budget = match unit {
        DeadlineUnitName::WorkingHours => i64::from(amount) * HOUR,
        DeadlineUnitName::WorkingDays => i64::from(amount) * DAY,
        // About five working days a week; calendar-day deadlines have no fixed budget.
        DeadlineUnitName::CalendarDays => i64::from(amount) * 5 / 7 * DAY,
    };
    ProcedureSpec {
        code,
        name,
        field,
        level,
        deadline_amount: amount,
        deadline_unit: unit,
        civil_code,
        cutoff_hour: cutoff,
        stops_for_financial_obligation: financial,
        appraisal,
        weight,
        steps: steps_for(budget),
    }
}

/// Four steps whose allotments add up to `budget` seconds exactly.
fn steps_for(budget: i64) -> Vec<StepSpec> {
    let (desk, approval) = if budget <= 4 * HOUR {
        (budget / 8, budget / 8)
    } else if budget <= DAY {
        (HOUR, 2 * HOUR)
    } else if budget <= 3 * DAY {
        (2 * HOUR, 4 * HOUR)
    } else if budget < 10 * DAY {
        (4 * HOUR, DAY)
    } else {
        (4 * HOUR, 2 * DAY)
    };
    // Whole minutes keep the document readable.
    let desk = desk / 60 * 60;
    let approval = approval / 60 * 60;
    let appraisal = budget - 2 * desk - approval;
    vec![
        StepSpec {
            code: "tiep-nhan",
            name: "Tiếp nhận hồ sơ",
            role: StepRole::Reception,
            allotted_secs: desk,
        },
        StepSpec {
            code: "tham-dinh",
            name: "Thẩm định, xử lý hồ sơ",
            role: StepRole::Appraisal,
            allotted_secs: appraisal,
        },
        StepSpec {
            code: "phe-duyet",
            name: "Phê duyệt, ký kết quả",
            role: StepRole::Approval,
            allotted_secs: approval,
        },
        StepSpec {
            code: "tra-ket-qua",
            name: "Trả kết quả",
            role: StepRole::Return,
            allotted_secs: desk,
        },
    ]
}

/// `1d4h30m`-style text of a working time in seconds (a day is 8 working hours).
fn render_working_time(secs: i64) -> String {
    let days = secs / DAY;
    let hours = secs % DAY / HOUR;
    let minutes = secs % HOUR / 60;
    let mut text = String::new();
    if days > 0 {
        let _ = write!(text, "{days}d");
    }
    if hours > 0 {
        let _ = write!(text, "{hours}h");
    }
    if minutes > 0 || text.is_empty() {
        let _ = write!(text, "{minutes}m");
    }
    text
}

/// A TOML basic string.
fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for ch in text.chars() {
        match ch {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            _ => quoted.push(ch),
        }
    }
    quoted.push('"');
    quoted
}

/// A date known to be valid.
fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).unwrap_or(NaiveDate::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allotments_add_up_to_the_budget() {
        for budget in [4 * HOUR, DAY, 2 * DAY, 3 * DAY, 10 * DAY, 20 * DAY] {
            let total: i64 = steps_for(budget).iter().map(|s| s.allotted_secs).sum();
            assert_eq!(total, budget);
            assert!(steps_for(budget).iter().all(|s| s.allotted_secs > 0));
        }
    }

    #[test]
    fn working_times_render_as_the_document_reads_them() {
        for secs in [30 * 60, 4 * HOUR, DAY + 4 * HOUR + 30 * 60, 17 * DAY] {
            let text = render_working_time(secs);
            let parsed = catalog_file::parse_working_time(&text).unwrap();
            assert_eq!(parsed.as_secs(), secs, "{text}");
        }
    }

    #[test]
    fn procedure_codes_are_unique() {
        let province = Province::generate(ProvinceConfig::new(1, 3));
        let mut codes: Vec<&str> = province.procedures.iter().map(|p| p.code).collect();
        codes.sort_unstable();
        let before = codes.len();
        codes.dedup();
        assert_eq!(before, codes.len());
    }
}
