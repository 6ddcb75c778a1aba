//! CPU time, from Linux's /proc: the client's and the rest of the
//! machine's, per call.

/// CPU time, in microseconds, from Linux's /proc (in units of 10 ms): the
/// whole machine's, and this process's own and its waited-for children's.
#[derive(Clone, Copy)]
pub struct Cpu {
    machine: f64,
    own: f64,
    children: f64,
}

impl Cpu {
    pub fn now() -> Self {
        let own = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        // After the command name in parentheses: utime, stime, cutime and
        // cstime are the 12th to 15th fields.
        let fields: Vec<f64> = own
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0.0))
            .collect();
        let field = |i: usize| fields.get(i).copied().unwrap_or(0.0) * 10_000.0;
        Cpu {
            machine: machine_cpu(),
            own: field(11) + field(12),
            children: field(13) + field(14),
        }
    }

    /// (client, server and the rest) used since `self`, per call: the client
    /// is this process for the crate, its children for pgbench.
    pub fn per_call(self, calls: usize, client_is_child: bool) -> (f64, f64) {
        let now = Cpu::now();
        let client = if client_is_child {
            now.children - self.children
        } else {
            now.own - self.own
        };
        let machine = now.machine - self.machine;
        (client / calls as f64, (machine - client) / calls as f64)
    }
}

/// CPU time the whole machine has spent, client and server, in
/// microseconds: /proc/stat (Linux), in units of 10 ms.
fn machine_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: u64 = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        // user, nice, system, idle, iowait, irq, softirq: all but idle and iowait.
        .take(7)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .filter_map(|(_, v)| v.parse::<u64>().ok())
        .sum();
    ticks as f64 * 10_000.0
}
