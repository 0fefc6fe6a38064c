//! The run as Markdown, for the README's performance page: one section per part of the bench,
//! each left out when `--only` did not run it.

use super::{Report, Row};

pub fn markdown(r: &Report) -> String {
    let mut lines = Vec::new();
    for section in [rows, batches, facts, cpu, settings, status_table, keys, targets] {
        section(r, &mut lines);
    }
    lines.join("\n")
}

/// The run's header, then every HTTP-ceiling, gateway and service row by connections.
fn rows(r: &Report, lines: &mut Vec<String>) {
    lines.extend([
        format!(
            "`make bench`, {} on {} cores, one broker for every row: {}. Each row is the median of {} \
             interleaved rounds of {} s (the ceiling and the four service rows take turns); \
             \"rounds\" is the lowest and highest round.\n",
            r.date, r.cores, r.broker, r.rounds, r.round_seconds
        ),
        "| target | mode | send | conns | req/s | rounds | p50 ms | p99 ms | max ms | errors | peak RSS MB | vs HTTP | vs gateway |"
            .into(),
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|".into(),
    ]);
    let mut all: Vec<&Row> =
        r.http_ceiling.iter().chain(&r.bare_gateway).chain(&r.service).chain(&r.service_in_memory).collect();
    all.sort_by_key(|row| row.connections);
    for row in all {
        let x = &row.result;
        lines.push(format!(
            "| {} | {} | {} | {} | {:.0} | {} | {:.2} | {:.2} | {:.1} | {} | {:.0} | {} | {} |",
            row.target,
            row.mode.as_deref().unwrap_or("-"),
            row.send_mode.as_deref().unwrap_or("-"),
            row.connections,
            x.requests_per_sec,
            row.spread(),
            x.p50_ms,
            x.p99_ms,
            x.max_ms,
            x.errors,
            x.peak_rss_mb,
            row.ratio_to_ceiling.map(|v| format!("{v:.2}x")).unwrap_or_else(|| "-".into()),
            row.ratio_to_gateway.map(|v| format!("{v:.2}x")).unwrap_or_else(|| "-".into())
        ));
    }
}

/// Async batches against raw rdkafka, and the million batched records.
fn batches(r: &Report, lines: &mut Vec<String>) {
    if !r.batches.is_empty() {
        lines.push(format!(
            "\nAsync batches of {} records at 16 connections, next to raw rdkafka fire-and-forget with the same linger.ms:\n",
            crate::batches::RECORDS_PER_BATCH
        ));
        lines.push("| linger.ms | batches/s | records/s | raw rdkafka msgs/s | ratio | p99 ms | errors |".into());
        lines.push("|---:|---:|---:|---:|---:|---:|---:|".into());
        for b in &r.batches {
            lines.push(format!(
                "| {} | {:.0} | {:.0} | {:.0} | {:.2}x | {:.1} | {} |",
                b.linger_ms,
                b.requests.requests_per_sec,
                b.records_per_sec,
                b.raw_records_per_sec,
                b.ratio_to_raw,
                b.requests.p99_ms,
                b.requests.errors
            ));
        }
        lines.push(format!(
            "\n- 1,000,000 records through batches: RSS peak {:.1} MB, after {:.1} MB, {} errors",
            r.memory_peak_during_million_batched_records_mb,
            r.memory_after_million_batched_records_mb,
            r.million_batched_records_errors
        ));
    }
}

/// The ceilings, the million async sends, start-up, WASM and binary sizes.
fn facts(r: &Report, lines: &mut Vec<String>) {
    lines.push(String::new());
    for (mode, v) in &r.kafka_ceiling_msgs_per_sec {
        lines.push(format!("- Kafka ceiling, raw rdkafka {mode}: {v:.0} msgs/s"));
    }
    for (mode, v) in &r.raw_produce_await_p50_ms {
        lines.push(format!("- Raw rdkafka produce-and-await p50, {mode}: {v:.2} ms"));
    }
    for (mode, v) in &r.raw_produce_await_64_msgs_per_sec {
        let service = r
            .service
            .iter()
            .find(|x| x.mode.as_deref() == Some(mode) && x.send_mode.as_deref() == Some("sync") && x.connections == 64)
            .map(|x| format!("; service sync at 64 connections: {:.2}x of it", x.result.requests_per_sec / v.max(1.0)))
            .unwrap_or_default();
        lines.push(format!("- Raw rdkafka with 64 sends awaited at once, {mode}: {v:.0} msgs/s{service}"));
    }
    let m = &r.million_async_sends;
    if m.total > 0 {
        lines.push(format!(
            "- {} async sends at 64 connections: {:.0} req/s, {} errors; RSS after {:.1} MB (peak {:.1} MB)",
            m.total,
            m.requests_per_sec,
            m.errors,
            r.memory_after_million_async_sends_mb,
            r.memory_peak_during_million_async_sends_mb
        ));
    }
    for (what, ms) in &r.startup_to_ready_ms {
        lines.push(format!("- Start-up to ready, {what}: {ms:.0} ms"));
    }
    for (i, w) in r.wasm.iter().enumerate() {
        let role = if i == 0 { "WASM bundle every page loads" } else { "WASM chunk loaded with the Lab page" };
        lines.push(format!(
            "- {role} (`{}`): {} bytes raw, {} bytes gzipped ({:.0} KB)",
            w.name,
            w.bytes,
            w.gzip_bytes,
            w.gzip_bytes as f64 / 1024.0
        ));
    }
    if r.binary_bytes > 0 {
        lines.push(format!(
            "- Server binary: {:.1} MB ({:.1} MB stripped of its symbol table)",
            r.binary_bytes as f64 / 1_048_576.0,
            r.binary_stripped_bytes as f64 / 1_048_576.0
        ));
    }
}

/// Each party's CPU per request at 64 connections.
fn cpu(r: &Report, lines: &mut Vec<String>) {
    if !r.cpu_per_request.is_empty() {
        lines
            .push("\nCPU per request, µs, at 64 connections (each party's CPU time over one row / requests):\n".into());
        for split in &r.cpu_per_request {
            let parts: Vec<String> = split.parts.iter().map(|(name, us)| format!("{name} {us:.1}")).collect();
            lines.push(format!(
                "- {} ({:.0} req/s): {} = **{:.1}**",
                split.label,
                split.requests_per_sec,
                parts.join(" + "),
                split.total()
            ));
        }
    }
}

/// The librdkafka settings tried.
fn settings(r: &Report, lines: &mut Vec<String>) {
    if !r.settings.is_empty() {
        lines.push("\nlibrdkafka settings (`KAFKA_PROPERTIES`), async idempotent at 64 connections:\n".into());
        lines.push("| KAFKA_PROPERTIES | req/s | p50 ms | p99 ms | errors |".into());
        lines.push("|---|---:|---:|---:|---:|".into());
        for (name, x) in &r.settings {
            lines.push(format!(
                "| {name} | {:.0} | {:.2} | {:.2} | {} |",
                x.requests_per_sec, x.p50_ms, x.p99_ms, x.errors
            ));
        }
    }
}

/// The shared status table against statuses in memory.
fn status_table(r: &Report, lines: &mut Vec<String>) {
    if !r.status_table.is_empty() {
        lines.push(
            "\nThe shared status table, idempotent sends at 64 connections (interleaved rounds; RSS per process):\n"
                .into(),
        );
        lines
            .push("| statuses | send | req/s | rounds | p50 ms | p99 ms | errors | peak RSS MB | vs baseline |".into());
        lines.push("|---|---|---:|---:|---:|---:|---:|---:|---:|".into());
        for row in &r.status_table {
            let x = &row.result;
            let base = r.status_table.iter().find(|b| b.target.contains("baseline") && b.send_mode == row.send_mode);
            let ratio = base.map(|b| x.requests_per_sec / b.result.requests_per_sec.max(1.0)).unwrap_or(0.0);
            lines.push(format!(
                "| {} | {} | {:.0} | {} | {:.2} | {:.2} | {} | {:.0} | {ratio:.2}x |",
                row.target,
                row.send_mode.as_deref().unwrap_or("-"),
                x.requests_per_sec,
                row.spread(),
                x.p50_ms,
                x.p99_ms,
                x.errors,
                x.peak_rss_mb
            ));
        }
        if let Some(lag) = r.view_lag_p99_ms {
            lines.push(format!("\n- State view lag p99 over those rows (one replica): <= {lag:.1} ms"));
        }
    }
}

/// Sends with and without an idempotency key.
fn keys(r: &Report, lines: &mut Vec<String>) {
    if !r.idempotency_keys.is_empty() {
        lines.push("\nIdempotency keys, idempotent sends (one closed-loop generator for both sides):\n".into());
        lines.push("| key | send | conns | req/s | rounds | p50 ms | p99 ms | errors |".into());
        lines.push("|---|---|---:|---:|---:|---:|---:|---:|".into());
        for row in &r.idempotency_keys {
            let x = &row.result;
            lines.push(format!(
                "| {} | {} | {} | {:.0} | {} | {:.2} | {:.2} | {} |",
                row.target,
                row.send_mode.as_deref().unwrap_or("-"),
                row.connections,
                x.requests_per_sec,
                row.spread(),
                x.p50_ms,
                x.p99_ms,
                x.errors
            ));
        }
    }
}

/// The targets' checklist.
fn targets(r: &Report, lines: &mut Vec<String>) {
    lines.push("\nTargets:\n".into());
    for (what, value, ok) in &r.checks {
        lines.push(format!("- [{}] {what}: {value}", if *ok { "x" } else { " " }));
    }
}
