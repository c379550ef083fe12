//! Files of a collector: one active file, rotated by size and/or age into numbered files,
//! optionally gzipped, with retention by count and/or total size.
//!
//! Lines are written whole (a record never spans two files) through a buffer that is flushed
//! when the collector goes idle and before every rotation, so a crash loses at most the buffered
//! tail and leaves every complete line readable. Rotation renames the active file to
//! `<prefix>-<UTC time>-<n>.<ext>`; compression writes `<that>.gz.tmp`, renames it to `.gz` and
//! only then removes the plain file.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::proto::LogRecord;

use crate::format::Format;
use crate::LogError;

/// Where and how a collector writes files.
#[derive(Debug, Clone)]
pub struct FileConfig {
    /// The directory (created if missing).
    pub dir: PathBuf,
    /// File name prefix (default `ryre-log`): the active file is `<prefix>.<ext>`.
    pub prefix: String,
    /// JSON lines or text.
    pub format: Format,
    /// Rotate when the active file would grow past this many bytes.
    pub rotate_size: Option<u64>,
    /// Rotate when the active file is this old.
    pub rotate_every: Option<Duration>,
    /// Keep at most this many rotated files (the oldest go first).
    pub keep_files: Option<usize>,
    /// Keep rotated files up to this many bytes in total (the oldest go first).
    pub keep_bytes: Option<u64>,
    /// Gzip rotated files.
    pub compress: bool,
}

impl FileConfig {
    /// JSON lines in `dir`, no rotation.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileConfig {
            dir: dir.into(),
            prefix: "ryre-log".into(),
            format: Format::Json,
            rotate_size: None,
            rotate_every: None,
            keep_files: None,
            keep_bytes: None,
            compress: false,
        }
    }
}

/// The writer of a collector's files.
pub struct FileSink {
    config: FileConfig,
    active: PathBuf,
    out: BufWriter<File>,
    size: u64,
    opened: Instant,
    rotations: u64,
    removed: u64,
    bytes: u64,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
    move |source| LogError::File {
        path: path.to_path_buf(),
        source,
    }
}

impl FileSink {
    /// Opens (appends to) the active file in `config.dir`.
    pub fn open(config: FileConfig) -> Result<FileSink, LogError> {
        if config.rotate_size == Some(0) || config.rotate_every == Some(Duration::ZERO) {
            return Err(LogError::Config(
                "rotation size and age must be above zero".into(),
            ));
        }
        fs::create_dir_all(&config.dir).map_err(io_err(&config.dir))?;
        let active = config
            .dir
            .join(format!("{}.{}", config.prefix, config.format.extension()));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&active)
            .map_err(io_err(&active))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(FileSink {
            config,
            active,
            out: BufWriter::with_capacity(256 * 1024, file),
            size,
            opened: Instant::now(),
            rotations: 0,
            removed: 0,
            bytes: 0,
        })
    }

    /// The active file.
    pub fn active_path(&self) -> &Path {
        &self.active
    }

    /// Rotations done, rotated files removed by retention, bytes written.
    pub fn counts(&self) -> (u64, u64, u64) {
        (self.rotations, self.removed, self.bytes)
    }

    /// Writes one record as one line, rotating first if the line would pass the size limit.
    pub fn write(&mut self, rec: &LogRecord) -> Result<(), LogError> {
        let mut line = self.config.format.line(rec);
        line.push('\n');
        let len = line.len() as u64;
        if let Some(max) = self.config.rotate_size {
            if self.size > 0 && self.size + len > max {
                self.rotate()?;
            }
        }
        self.out
            .write_all(line.as_bytes())
            .map_err(io_err(&self.active))?;
        self.size += len;
        self.bytes += len;
        Ok(())
    }

    /// Rotates if the active file is older than `rotate_every`; call it now and then.
    pub fn tick(&mut self) -> Result<(), LogError> {
        if let Some(every) = self.config.rotate_every {
            if self.opened.elapsed() >= every && self.size > 0 {
                self.rotate()?;
            }
        }
        Ok(())
    }

    /// Writes the buffered lines to the file.
    pub fn flush(&mut self) -> Result<(), LogError> {
        self.out.flush().map_err(io_err(&self.active))
    }

    /// Closes the active file as a rotated one and starts a new one.
    pub fn rotate(&mut self) -> Result<(), LogError> {
        self.flush()?;
        let stamp = humantime::format_rfc3339_micros(SystemTime::now())
            .to_string()
            .replace([':', '-', '.'], "");
        let ext = self.config.format.extension();
        let mut rotated;
        let mut n = 0u32;
        loop {
            rotated = self
                .config
                .dir
                .join(format!("{}-{stamp}-{n:04}.{ext}", self.config.prefix));
            if !rotated.exists() && !gz_path(&rotated).exists() {
                break;
            }
            n += 1;
        }
        fs::rename(&self.active, &rotated).map_err(io_err(&rotated))?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.active)
            .map_err(io_err(&self.active))?;
        self.out = BufWriter::with_capacity(256 * 1024, file);
        self.size = 0;
        self.opened = Instant::now();
        self.rotations += 1;
        if self.config.compress {
            compress(&rotated)?;
        }
        self.retain()
    }

    /// The rotated files, oldest first.
    pub fn rotated_files(&self) -> Result<Vec<PathBuf>, LogError> {
        let dir = &self.config.dir;
        let head = format!("{}-", self.config.prefix);
        let mut files: Vec<PathBuf> = fs::read_dir(dir)
            .map_err(io_err(dir))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&head) && !n.ends_with(".tmp"))
            })
            .collect();
        files.sort();
        Ok(files)
    }

    fn retain(&mut self) -> Result<(), LogError> {
        let mut files = self.rotated_files()?;
        if let Some(keep) = self.config.keep_files {
            while files.len() > keep {
                let f = files.remove(0);
                fs::remove_file(&f).map_err(io_err(&f))?;
                self.removed += 1;
            }
        }
        if let Some(max) = self.config.keep_bytes {
            let size = |p: &PathBuf| fs::metadata(p).map(|m| m.len()).unwrap_or(0);
            let mut total: u64 = files.iter().map(size).sum();
            while total > max && !files.is_empty() {
                let f = files.remove(0);
                total -= size(&f);
                fs::remove_file(&f).map_err(io_err(&f))?;
                self.removed += 1;
            }
        }
        Ok(())
    }
}

impl Drop for FileSink {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}

fn gz_path(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".gz");
    PathBuf::from(s)
}

/// Gzips `path` to `path.gz` (through a `.tmp` file) and removes `path`.
fn compress(path: &Path) -> Result<(), LogError> {
    let gz = gz_path(path);
    let mut tmp = gz.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut input = File::open(path).map_err(io_err(path))?;
    let output = File::create(&tmp).map_err(io_err(&tmp))?;
    let mut enc =
        flate2::write::GzEncoder::new(BufWriter::new(output), flate2::Compression::fast());
    std::io::copy(&mut input, &mut enc).map_err(io_err(&tmp))?;
    let mut w = enc.finish().map_err(io_err(&tmp))?;
    w.flush().map_err(io_err(&tmp))?;
    fs::rename(&tmp, &gz).map_err(io_err(&gz))?;
    fs::remove_file(path).map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Level;
    use ryre::PeerId;
    use std::io::Read;

    fn rec(seq: u64) -> LogRecord {
        LogRecord {
            seq,
            time: 1_700_000_000_000_000_000 + seq,
            level: Level::Info,
            node: PeerId::from_bytes([2; 16]),
            name: "n".into(),
            target: "t".into(),
            message: format!("record {seq}"),
            fields: vec![],
            spans: vec![],
        }
    }

    fn lines_of(path: &Path) -> Vec<serde_json::Value> {
        let mut text = String::new();
        let f = File::open(path).expect("open");
        if path.extension().is_some_and(|e| e == "gz") {
            flate2::read::GzDecoder::new(f)
                .read_to_string(&mut text)
                .expect("gunzip");
        } else {
            let mut f = f;
            f.read_to_string(&mut text).expect("read");
        }
        text.lines()
            .map(|l| serde_json::from_str(l).expect("every line is JSON"))
            .collect()
    }

    #[test]
    fn rotates_by_size_keeps_n_and_never_splits_a_record() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = FileConfig::new(dir.path());
        c.rotate_size = Some(4096);
        c.keep_files = Some(3);
        c.compress = true;
        let mut sink = FileSink::open(c).expect("open");
        for i in 0..2000 {
            sink.write(&rec(i)).expect("write");
        }
        sink.flush().expect("flush");
        let rotated = sink.rotated_files().expect("list");
        assert_eq!(rotated.len(), 3, "{rotated:?}");
        let (rotations, removed, _) = sink.counts();
        assert_eq!(removed, rotations - 3);
        let mut seqs = Vec::new();
        for f in rotated
            .iter()
            .chain(std::iter::once(&sink.active_path().to_path_buf()))
        {
            assert!(
                fs::metadata(f).expect("size").len() <= 4096
                    || f.extension().is_some_and(|e| e == "gz")
            );
            for v in lines_of(f) {
                seqs.push(v["seq"].as_u64().expect("seq"));
            }
        }
        let first = seqs[0];
        assert_eq!(
            seqs,
            (first..2000).collect::<Vec<_>>(),
            "contiguous to the last record"
        );
        assert!(rotated
            .iter()
            .all(|f| f.extension().is_some_and(|e| e == "gz")));
    }

    #[test]
    fn rotates_by_age_and_by_total_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = FileConfig::new(dir.path());
        c.rotate_every = Some(Duration::from_nanos(1));
        c.keep_bytes = Some(1);
        let mut sink = FileSink::open(c).expect("open");
        sink.write(&rec(0)).expect("write");
        sink.tick().expect("tick");
        assert_eq!(sink.counts().0, 1);
        // Retention by bytes: the only rotated file is over 1 byte, so it went.
        assert_eq!(sink.rotated_files().expect("list").len(), 0);
        assert_eq!(sink.counts().1, 1);
        // An empty active file is not rotated.
        sink.tick().expect("tick");
        assert_eq!(sink.counts().0, 1);
    }

    #[test]
    fn bad_settings_and_paths_are_clear_errors() {
        let mut c = FileConfig::new("/proc/no-such-dir/x");
        assert!(matches!(
            FileSink::open(c.clone()),
            Err(LogError::File { .. })
        ));
        c.rotate_size = Some(0);
        assert!(matches!(FileSink::open(c), Err(LogError::Config(_))));
    }
}
