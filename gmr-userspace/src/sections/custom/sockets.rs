//! Socket details for open file descriptors: `socket:[INODE]` becomes
//! protocol, addresses and state, from the target's network namespace
//! (`/proc/PID/net/*`).

use std::{collections::HashMap, net::IpAddr};

/// TCP states by the kernel's number (`include/net/tcp_states.h`).
const TCP_STATES: [&str; 12] = [
    "?",
    "ESTABLISHED",
    "SYN_SENT",
    "SYN_RECV",
    "FIN_WAIT1",
    "FIN_WAIT2",
    "TIME_WAIT",
    "CLOSE",
    "CLOSE_WAIT",
    "LAST_ACK",
    "LISTEN",
    "CLOSING",
];

/// Describes every socket inode the target's namespace knows.
pub fn socket_table(pid: u32) -> HashMap<u64, String> {
    let mut table = HashMap::new();
    for proto in ["tcp", "tcp6", "udp", "udp6"] {
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{proto}")) {
            for (inode, detail) in parse_inet(proto, &text) {
                table.insert(inode, detail);
            }
        }
    }
    if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/unix")) {
        table.extend(parse_unix(&text));
    }
    table
}

/// Lines of `/proc/net/tcp`-style tables: `sl local rem st ... inode`.
fn parse_inet(proto: &str, text: &str) -> Vec<(u64, String)> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = address(fields.get(1)?)?;
            let remote = address(fields.get(2)?)?;
            let state = u8::from_str_radix(fields.get(3)?, 16).ok()?;
            let inode = fields.get(9)?.parse().ok()?;
            let state = if proto.starts_with("tcp") {
                TCP_STATES.get(state as usize).copied().unwrap_or("?")
            } else if state == 7 {
                "UNCONN"
            } else {
                "ESTABLISHED"
            };
            Some((inode, format!("{proto} {local} -> {remote} {state}")))
        })
        .collect()
}

/// `0100007F:1F90` → `127.0.0.1:8080`; IPv6 as four little-endian words.
fn address(field: &str) -> Option<String> {
    let (ip_hex, port_hex) = field.split_once(':')?;
    let port = u16::from_str_radix(port_hex, 16).ok()?;
    let ip: IpAddr = match ip_hex.len() {
        8 => u32::from_str_radix(ip_hex, 16)
            .ok()?
            .swap_bytes()
            .to_be_bytes()
            .into(),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, word) in bytes.chunks_mut(4).enumerate() {
                let value = u32::from_str_radix(&ip_hex[i * 8..i * 8 + 8], 16).ok()?;
                word.copy_from_slice(&value.to_le_bytes());
            }
            bytes.into()
        }
        _ => return None,
    };
    Some(match ip {
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
        IpAddr::V4(v4) => format!("{v4}:{port}"),
    })
}

/// `/proc/net/unix`: `Num RefCount Protocol Flags Type St Inode [Path]`.
fn parse_unix(text: &str) -> Vec<(u64, String)> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let kind = match *fields.get(4)? {
                "0001" => "stream",
                "0002" => "dgram",
                "0005" => "seqpacket",
                _ => "?",
            };
            let state = match *fields.get(5)? {
                "01" => "UNCONNECTED",
                "02" => "CONNECTING",
                "03" => "CONNECTED",
                "04" => "DISCONNECTING",
                _ => "?",
            };
            let inode = fields.get(6)?.parse().ok()?;
            let path = fields.get(7).map(|p| format!(" {p}")).unwrap_or_default();
            Some((inode, format!("unix {kind} {state}{path}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_proc_net_lines() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0 100 0 0 10 0\n";
        assert_eq!(
            parse_inet("tcp", tcp),
            [(4242, "tcp 127.0.0.1:8080 -> 0.0.0.0:0 LISTEN".to_owned())]
        );
        let tcp6 = "header\n   0: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 0 0 0 0 0 0 777 1\n";
        assert_eq!(
            parse_inet("tcp6", tcp6)[0].1,
            "tcp6 [::1]:22 -> [::]:0 LISTEN"
        );
        let unix = "Num       RefCount Protocol Flags    Type St Inode Path\n0000: 00000002 00000000 00010000 0001 01 9001 /run/x.sock\n";
        assert_eq!(
            parse_unix(unix),
            [(9001, "unix stream UNCONNECTED /run/x.sock".to_owned())]
        );
    }

    #[test]
    fn finds_a_listening_socket_of_this_process() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let table = socket_table(std::process::id());
        assert!(
            table
                .values()
                .any(|d| d.contains(&format!("127.0.0.1:{port}")) && d.ends_with("LISTEN")),
            "{table:?}"
        );
    }
}
