//! STDF V4 through `rust-stdf`'s writer, which validates each record (field lengths, the order
//! of optional fields) as it writes it.
//!
//! One part per unit attempt: PIR, a PTR per numeric measurement, PRR with PART_ID the serial.
//! Text measurements (`matches` limits) have no PTR: STDF's parametric record holds a number;
//! their verdict is in the part's pass/fail. Each measurement name is one test number, in order
//! of first appearance. The whole file is one lot: HBR, SBR, TSR and PCR are summaries over all
//! sites (HEAD_NUM 255).

use std::collections::HashMap;
use std::io::Write;

use rigor_store::{FailureClass, MeasurementOutcome, RunStatus};
use rust_stdf::stdf_file::StdfWriter;
use rust_stdf::{ByteOrder, FAR, HBR, MIR, MRR, PCR, PIR, PRR, PTR, SBR, StdfError, TSR};
use serde::Serialize;

use crate::error::ResultsError;
use crate::rows::{Measurement, Run, Runs};
use crate::source::Source;
use crate::stats::Accumulator;
use crate::timefmt::stdf_seconds;

/// What goes in the file's lot record.
#[derive(Debug, Clone, Default)]
pub struct StdfOptions {
    /// MIR.LOT_ID: the lot or date range exported.
    pub lot_id: String,
}

/// A part's bin: the same number is its hard and soft bin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Bin {
    /// 1: passed.
    Pass = 1,
    /// 2: failed, the device's fault.
    DeviceFail = 2,
    /// 3: failed for the rig, fixture or instrument: retest.
    Infrastructure = 3,
    /// 4: the scenario's fault, or an abort without a class.
    Other = 4,
    /// 5: no end recorded (still running, or its process died).
    Incomplete = 5,
}

impl Bin {
    /// The bin of a run.
    pub fn of(run: &Run) -> Bin {
        match (run.status, run.failure_class) {
            (RunStatus::Pass, _) => Bin::Pass,
            (RunStatus::Incomplete, _) => Bin::Incomplete,
            (_, Some(FailureClass::Device)) => Bin::DeviceFail,
            (_, Some(FailureClass::Infrastructure)) => Bin::Infrastructure,
            _ => Bin::Other,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Bin::Pass => "pass",
            Bin::DeviceFail => "device fail",
            Bin::Infrastructure => "infrastructure",
            Bin::Other => "scenario or abort",
            Bin::Incomplete => "incomplete",
        }
    }
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StdfSummary {
    /// Parts (unit attempts).
    pub parts: u64,
    /// PTR records.
    pub ptrs: u64,
    /// Test numbers by measurement name, in test-number order.
    pub tests: Vec<(u32, String)>,
    /// Records written, every type.
    pub records: u64,
}

/// TEST_FLG: bit 1 result invalid, bit 7 failed.
pub(crate) fn test_flg(m: &Measurement) -> u8 {
    let mut flags = 0;
    if m.value.is_none() {
        flags |= 0x02;
    }
    if m.outcome == MeasurementOutcome::Fail {
        flags |= 0x80;
    }
    flags
}

/// PARM_FLG: bit 3 above the high limit, bit 4 below the low, bits 6 and 7 a value equal to the
/// low or high limit passes (inclusive bounds).
pub(crate) fn parm_flg(m: &Measurement) -> u8 {
    let mut flags = 0;
    if let Some(v) = m.value {
        if m.high
            .is_some_and(|h| v > h || (v == h && !m.high_inclusive))
        {
            flags |= 0x08;
        }
        if m.low.is_some_and(|l| v < l || (v == l && !m.low_inclusive)) {
            flags |= 0x10;
        }
    }
    if m.low_inclusive {
        flags |= 0x40;
    }
    if m.high_inclusive {
        flags |= 0x80;
    }
    flags
}

/// OPT_FLAG: bit 1 always set (reserved), bits 2 and 3 no spec limits (rigor has test limits
/// only), bit 6 no low limit, bit 7 no high limit.
pub(crate) fn opt_flag(m: &Measurement) -> u8 {
    let mut flags = 0x02 | 0x04 | 0x08;
    if m.low.is_none() {
        flags |= 0x40;
    }
    if m.high.is_none() {
        flags |= 0x80;
    }
    flags
}

/// PART_FLG: bit 0 a retest of a part with the same PART_ID, bit 2 abnormal end, bit 3 failed,
/// bit 4 pass/fail unknown.
pub(crate) fn part_flg(run: &Run) -> u8 {
    let mut flags = 0;
    if run.attempt > 1 {
        flags |= 0x01;
    }
    match run.status {
        RunStatus::Pass => {}
        RunStatus::Incomplete => flags |= 0x04 | 0x10,
        RunStatus::Aborted => flags |= 0x04 | 0x08,
        RunStatus::Fail | RunStatus::Error => flags |= 0x08,
    }
    flags
}

struct Writer<W: Write> {
    out: StdfWriter<W>,
    records: u64,
}

impl<W: Write> Writer<W> {
    fn put<R>(&mut self, name: &'static str, record: &R) -> Result<(), ResultsError>
    where
        StdfWriter<W>: WriteRecord<R>,
    {
        self.out
            .write_one(record)
            .map_err(|e| stdf_error(name, &e))?;
        self.records += 1;
        Ok(())
    }
}

/// rust-stdf's record-writing trait is crate-private; this names its inherent method per record
/// type so one helper can count and wrap every write.
trait WriteRecord<R> {
    fn write_one(&mut self, record: &R) -> Result<(), StdfError>;
}

macro_rules! write_record {
    ($($t:ty),*) => {$(
        impl<W: Write> WriteRecord<$t> for StdfWriter<W> {
            fn write_one(&mut self, record: &$t) -> Result<(), StdfError> {
                self.write_record(record)
            }
        }
    )*};
}
write_record!(FAR, MIR, PIR, PTR, PRR, TSR, HBR, SBR, PCR, MRR);

fn stdf_error(record: &'static str, e: &StdfError) -> ResultsError {
    ResultsError::Stdf {
        record,
        kind: e.kind(),
        message: e.msg.clone(),
    }
}

/// Site number of a slot: its position among the slots in the export, from 1.
fn sites(runs: &Runs) -> HashMap<String, u8> {
    let mut slots: Vec<&str> = runs.iter().map(|r| &*r.slot).collect();
    slots.sort_unstable();
    slots.dedup();
    slots
        .into_iter()
        .enumerate()
        .map(|(i, s)| (s.to_owned(), u8::try_from(i + 1).unwrap_or(u8::MAX)))
        .collect()
}

fn one_or_many<'a>(mut values: impl Iterator<Item = &'a str>) -> String {
    let Some(first) = values.next() else {
        return String::new();
    };
    if values.all(|v| v == first) {
        first.to_owned()
    } else {
        "(several)".to_owned()
    }
}

/// Writes `runs` (every attempt, in recording order) as STDF V4 to `out`.
pub fn export_stdf<W: Write>(
    source: &dyn Source,
    runs: &Runs,
    options: &StdfOptions,
    out: W,
) -> Result<StdfSummary, ResultsError> {
    let mut w = Writer {
        out: StdfWriter::new(out, ByteOrder::LittleEndian),
        records: 0,
    };
    let mut far = FAR::new();
    far.cpu_type = 2; // little-endian
    far.stdf_ver = 4;
    w.put("FAR", &far)?;
    let start = runs.iter().map(|r| r.started_at_us).min().unwrap_or(0);
    let finish = runs
        .iter()
        .map(|r| r.ended_at_us.unwrap_or(r.started_at_us))
        .max()
        .unwrap_or(0);
    let mut mir = MIR::new();
    mir.setup_t = stdf_seconds(start);
    mir.start_t = stdf_seconds(start);
    mir.stat_num = 1;
    mir.mode_cod = 'P';
    mir.lot_id = options.lot_id.clone();
    mir.part_typ = one_or_many(runs.iter().map(|r| &*r.generation));
    mir.famly_id = one_or_many(runs.iter().map(|r| &*r.family));
    mir.node_nam = one_or_many(runs.iter().map(|r| &*r.station));
    mir.tstr_typ = "rigor".to_owned();
    mir.job_nam = one_or_many(runs.iter().map(|r| &*r.scenario));
    mir.job_rev = one_or_many(runs.iter().map(|r| &*r.scenario_version));
    mir.oper_nam = one_or_many(runs.iter().map(|r| &*r.operator));
    mir.exec_typ = "rigor".to_owned();
    mir.exec_ver = env!("CARGO_PKG_VERSION").to_owned();
    w.put("MIR", &mir)?;

    let sites = sites(runs);
    let mut ids: Vec<i64> = runs.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    let mut tests: Vec<(u32, String)> = Vec::new();
    let mut test_of: HashMap<std::sync::Arc<str>, usize> = HashMap::new();
    let mut per_test: Vec<(Accumulator, u64, u64)> = Vec::new();
    let mut bins: HashMap<Bin, u32> = HashMap::new();
    let (mut parts, mut ptrs) = (0u64, 0u64);
    let mut next = 0usize; // the next run (in id order) without its PIR yet
    let mut open: Option<(i64, u16)> = None; // the run whose part is open, its PTR count
    let mut failed: Option<ResultsError> = None;

    let close = |w: &mut Writer<W>, id: i64, tests_run: u16, bins: &mut HashMap<Bin, u32>| {
        let Some(run) = runs.get(id) else {
            return Ok(());
        };
        let bin = Bin::of(run);
        *bins.entry(bin).or_default() += 1;
        let mut prr = PRR::new();
        prr.head_num = 1;
        prr.site_num = sites.get(&*run.slot).copied().unwrap_or(1);
        prr.part_flg = [part_flg(run)];
        prr.num_test = tests_run;
        prr.hard_bin = bin as u16;
        prr.soft_bin = bin as u16;
        prr.test_t = run.ended_at_us.map_or(0, |e| {
            u32::try_from((e - run.started_at_us) / 1000).unwrap_or(u32::MAX)
        });
        prr.part_id = run.serial.clone();
        prr.part_txt = format!("{} attempt {}", run.scenario, run.attempt);
        w.put("PRR", &prr)
    };
    let begin = |w: &mut Writer<W>, id: i64| {
        let mut pir = PIR::new();
        pir.head_num = 1;
        pir.site_num = runs
            .get(id)
            .and_then(|r| sites.get(&*r.slot).copied())
            .unwrap_or(1);
        w.put("PIR", &pir)
    };

    source.for_each_measurement(runs, None, &mut |m| {
        if failed.is_some() {
            return;
        }
        let result = (|| -> Result<(), ResultsError> {
            if open.map(|(id, _)| id) != Some(m.run_id) {
                if let Some((id, n)) = open.take() {
                    close(&mut w, id, n, &mut bins)?;
                    parts += 1;
                }
                // Attempts without a measurement still get their PIR/PRR, in order.
                while next < ids.len() && ids[next] < m.run_id {
                    begin(&mut w, ids[next])?;
                    close(&mut w, ids[next], 0, &mut bins)?;
                    parts += 1;
                    next += 1;
                }
                begin(&mut w, m.run_id)?;
                next += 1;
                open = Some((m.run_id, 0));
            }
            if m.value.is_none() && m.text_value.is_some() {
                return Ok(()); // a text value: no PTR
            }
            let t = *test_of.entry(m.name.clone()).or_insert_with(|| {
                tests.push((tests.len() as u32 + 1, m.name.to_string()));
                per_test.push((Accumulator::default(), 0, 0));
                tests.len() - 1
            });
            let stats = &mut per_test[t];
            stats.1 += 1;
            stats.2 += u64::from(m.outcome == MeasurementOutcome::Fail);
            if let Some(v) = m.value {
                stats.0.push(v);
            }
            let run = runs.get(m.run_id);
            let mut ptr = PTR::new();
            ptr.test_num = tests[t].0;
            ptr.head_num = 1;
            ptr.site_num = run.and_then(|r| sites.get(&*r.slot).copied()).unwrap_or(1);
            ptr.test_flg = [test_flg(m)];
            ptr.parm_flg = [parm_flg(m)];
            ptr.result = m.value.unwrap_or(0.0) as f32;
            ptr.test_txt = m.name.to_string();
            ptr.opt_flag = Some([opt_flag(m)]);
            ptr.res_scal = Some(0);
            ptr.llm_scal = Some(0);
            ptr.hlm_scal = Some(0);
            ptr.lo_limit = Some(m.low.unwrap_or(0.0) as f32);
            ptr.hi_limit = Some(m.high.unwrap_or(0.0) as f32);
            ptr.units = Some(m.unit.as_deref().unwrap_or("").to_owned());
            ptr.c_resfmt = Some(String::new());
            ptr.c_llmfmt = Some(String::new());
            ptr.c_hlmfmt = Some(String::new());
            ptr.lo_spec = Some(0.0);
            ptr.hi_spec = Some(0.0);
            w.put("PTR", &ptr)?;
            ptrs += 1;
            if let Some((_, n)) = &mut open {
                *n = n.saturating_add(1);
            }
            Ok(())
        })();
        if let Err(e) = result {
            failed = Some(e);
        }
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    if let Some((id, n)) = open.take() {
        close(&mut w, id, n, &mut bins)?;
        parts += 1;
    }
    for &id in &ids[next.min(ids.len())..] {
        begin(&mut w, id)?;
        close(&mut w, id, 0, &mut bins)?;
        parts += 1;
    }

    for ((num, name), (acc, execs, fails)) in tests.iter().zip(&per_test) {
        let mut tsr = TSR::new();
        tsr.head_num = 255;
        tsr.site_num = 255;
        tsr.test_typ = 'P';
        tsr.test_num = *num;
        tsr.exec_cnt = u32::try_from(*execs).unwrap_or(u32::MAX);
        tsr.fail_cnt = u32::try_from(*fails).unwrap_or(u32::MAX);
        tsr.test_nam = name.clone();
        // Bit 2: no test time (rigor times steps, not readings); bits 0, 1, 4, 5 when there
        // was no valid reading to take a min, max or sums of.
        tsr.opt_flag = [if acc.n == 0 { 0x37 } else { 0x04 }];
        if acc.n > 0 {
            tsr.test_min = acc.min as f32;
            tsr.test_max = acc.max as f32;
            let mean = acc.mean().unwrap_or(0.0);
            let var = acc.sigma_overall().map_or(0.0, |s| s * s);
            let n = acc.n as f64;
            tsr.tst_sums = (mean * n) as f32;
            tsr.tst_sqrs = (var * (n - 1.0) + n * mean * mean) as f32;
        }
        w.put("TSR", &tsr)?;
    }
    let mut sorted_bins: Vec<(Bin, u32)> = bins.into_iter().collect();
    sorted_bins.sort();
    for &(bin, count) in &sorted_bins {
        let mut hbr = HBR::new();
        hbr.head_num = 255;
        hbr.site_num = 255;
        hbr.hbin_num = bin as u16;
        hbr.hbin_cnt = count;
        hbr.hbin_pf = if bin == Bin::Pass { 'P' } else { 'F' };
        hbr.hbin_nam = bin.name().to_owned();
        w.put("HBR", &hbr)?;
    }
    for &(bin, count) in &sorted_bins {
        let mut sbr = SBR::new();
        sbr.head_num = 255;
        sbr.site_num = 255;
        sbr.sbin_num = bin as u16;
        sbr.sbin_cnt = count;
        sbr.sbin_pf = if bin == Bin::Pass { 'P' } else { 'F' };
        sbr.sbin_nam = bin.name().to_owned();
        w.put("SBR", &sbr)?;
    }
    let mut pcr = PCR::new();
    pcr.head_num = 255;
    pcr.site_num = 255;
    pcr.part_cnt = u32::try_from(parts).unwrap_or(u32::MAX);
    pcr.rtst_cnt = runs.iter().filter(|r| r.attempt > 1).count() as u32;
    pcr.abrt_cnt = runs
        .iter()
        .filter(|r| matches!(r.status, RunStatus::Aborted | RunStatus::Incomplete))
        .count() as u32;
    pcr.good_cnt = runs.iter().filter(|r| r.status == RunStatus::Pass).count() as u32;
    w.put("PCR", &pcr)?;
    let mut mrr = MRR::new();
    mrr.finish_t = stdf_seconds(finish);
    w.put("MRR", &mrr)?;
    w.out.flush().map_err(|e| stdf_error("MRR", &e))?;
    Ok(StdfSummary {
        parts,
        ptrs,
        tests,
        records: w.records,
    })
}
