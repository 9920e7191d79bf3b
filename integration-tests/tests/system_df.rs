//! `system df` and `ps --size`: what images, containers and volumes take,
//! with docker's active and reclaimable arithmetic.

use berth_integration_tests::containers::Env;

fn df_rows(e: &Env) -> Vec<String> {
    e.ok(&["system", "df", "--format", "{{.Type}}|{{.TotalCount}}|{{.Active}}|{{.Size}}|{{.Reclaimable}}"]).lines().map(str::to_string).collect()
}

#[test]
fn disk_usage_of_images_containers_and_volumes() {
    let e = Env::new("df");
    let bb = e.bb();
    let layers = format!("{}/layers", e.reg);
    // `layers` shares its first layer with busybox.
    e.ok(&["pull", "-q", &layers]);
    e.run_d(&["--name", "live", "-v", "dfvol:/data", &bb, "sh", "-c", "dd if=/dev/zero of=/data/v bs=1000 count=300 && dd if=/dev/zero of=/rw bs=1000 count=500 && touch /done && sleep 1000"]);
    e.ok(&["run", "--network", "none", "--name", "dead", &layers, "sh", "-c", "dd if=/dev/zero of=/x bs=1000 count=200 2>/dev/null"]);
    e.remember("dead");
    e.ok(&["volume", "create", "idle"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while e.berth(&["exec", "live", "test", "-e", "/done"]).status.code() != Some(0) {
        assert!(std::time::Instant::now() < deadline, "the container never wrote its files");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    let rows = df_rows(&e);
    assert_eq!(rows.len(), 4, "{rows:?}");
    let (img, ctr, vol, cache) = (&rows[0], &rows[1], &rows[2], &rows[3]);
    // Both images are in use. As docker counts it, what each holds is its
    // unique part, so the layer they share (busybox's) is what is left as
    // reclaimable.
    assert_eq!(img, "Images|2|2|43.93MB|1.983MB (4%)");
    // 500 kB written by the running one, 200 kB by the stopped one.
    assert_eq!(ctr, "Containers|2|1|700kB|200kB (28%)");
    assert_eq!(vol, "Local Volumes|2|1|300kB|0B (0%)");
    assert_eq!(cache, "Build Cache|0|0|0B|0B");

    let table = e.ok(&["system", "df"]);
    let header = table.lines().next().unwrap();
    assert!(header.starts_with("TYPE") && header.contains("TOTAL") && header.contains("ACTIVE") && header.contains("SIZE") && header.contains("RECLAIMABLE"), "{table}");

    let v = e.ok(&["system", "df", "-v"]);
    for want in ["Images space usage:", "SHARED SIZE", "UNIQUE SIZE", "Containers space usage:", "LOCAL VOLUMES", "Local Volumes space usage:", "VOLUME NAME", "Build cache usage: 0B"] {
        assert!(v.contains(want), "{want}: {v}");
    }
    let bb_row = v.lines().find(|l| l.contains("busybox") && l.contains("latest")).unwrap_or_else(|| panic!("{v}"));
    let cells: Vec<&str> = bb_row.split_whitespace().collect();
    assert_eq!(&cells[cells.len() - 4..], ["1.98MB", "1.98MB", "0B", "1"], "all of busybox is shared, one container: {bb_row}");
    let dfvol = v.lines().find(|l| l.starts_with("dfvol")).unwrap_or_else(|| panic!("{v}"));
    assert_eq!(dfvol.split_whitespace().collect::<Vec<_>>(), ["dfvol", "1", "300kB"]);
    let live = v.lines().find(|l| l.ends_with("live")).unwrap_or_else(|| panic!("{v}"));
    assert!(live.contains(" 1 ") && live.contains("500kB"), "one local volume, 500 kB written: {live}");

    // ps --size: what the container wrote, and that plus its image.
    let sizes = e.ok(&["ps", "-a", "--size", "--format", "{{.Names}} {{.Size}}"]);
    assert!(sizes.lines().any(|l| l.starts_with("dead 200kB (virtual ")), "{sizes}");
    assert!(e.ok(&["ps", "-s"]).lines().next().unwrap().trim_end().ends_with("SIZE"));

    assert!(e.fails(&["system", "df", "-v", "--format", "json"]).contains("--format is not supported together with --verbose"));
    assert!(e.fails(&["system", "nope"]).contains("unknown command"));

    e.ok(&["rm", "-f", "live", "dead"]);
    e.ok(&["volume", "rm", "dfvol", "idle"]);
    let rows = df_rows(&e);
    assert_eq!(rows[1], "Containers|0|0|0B|0B");
    assert_eq!(rows[2], "Local Volumes|0|0|0B|0B");
    assert!(rows[0].starts_with("Images|2|0|"), "{rows:?}");
    assert!(rows[0].ends_with("(100%)"), "nothing uses an image: {rows:?}");
}
