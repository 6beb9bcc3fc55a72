//! Numbers for people: byte counts in binary units (`17 MiB`, not `17825792-byte`).

/// `n` bytes in the largest binary unit it reaches: `512 bytes`, `4 KiB`, `9.5 MiB`, `1 GiB`
/// (one decimal unless whole).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return if n == 1 {
            "1 byte".into()
        } else {
            format!("{n} bytes")
        };
    }
    let mut value = n as f64;
    let mut unit = "";
    for u in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = u;
    }
    if value.fract() == 0.0 {
        format!("{value:.0} {unit}")
    } else {
        format!("{value:.1} {unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_read_as_people_write_them() {
        assert_eq!(bytes(0), "0 bytes");
        assert_eq!(bytes(1), "1 byte");
        assert_eq!(bytes(1023), "1023 bytes");
        assert_eq!(bytes(4096), "4 KiB");
        assert_eq!(bytes(17_825_792), "17 MiB");
        assert_eq!(bytes(9 * 1024 * 1024 + 512 * 1024), "9.5 MiB");
        assert_eq!(bytes(1 << 30), "1 GiB");
    }
}
