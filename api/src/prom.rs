//! Short forms over prometheus-client's encoder for the collectors of
//! `/metrics`: a counter, a gauge, a labelled family of either, a bucketed
//! histogram; and [`render`], the Prometheus text (format 0.0.4) of a
//! registry. Names are given whole (`kupala_acks_total`): the encoder adds
//! `_total` to counters itself, so it is taken off first.

use prometheus_client::encoding::{DescriptorEncoder, EncodeGaugeValue, EncodeLabelSet, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use kupala_engine::histogram::Buckets;

/// What encoding returns.
pub(crate) type Encoded = Result<(), std::fmt::Error>;

fn counter_name(name: &str) -> &str {
    name.strip_suffix("_total").unwrap_or(name)
}

/// One counter without labels.
pub(crate) fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> Encoded {
    e.encode_descriptor(counter_name(name), help, None, MetricType::Counter)?
        .encode_counter::<NoLabelSet, _, u64>(&v, None)
}

/// One counter of a fractional quantity (seconds) without labels.
pub(crate) fn counter_f64(e: &mut DescriptorEncoder, name: &str, help: &str, v: f64) -> Encoded {
    e.encode_descriptor(counter_name(name), help, None, MetricType::Counter)?
        .encode_counter::<NoLabelSet, _, f64>(&v, None)
}

/// One gauge without labels.
pub(crate) fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, v: impl EncodeGaugeValue) -> Encoded {
    e.encode_descriptor(name, help, None, MetricType::Gauge)?
        .encode_gauge(&v)
}

/// A counter family: one sample per label set.
pub(crate) fn counters<L: EncodeLabelSet>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (L, u64)>,
) -> Encoded {
    let mut m = e.encode_descriptor(counter_name(name), help, None, MetricType::Counter)?;
    for (labels, v) in rows {
        m.encode_family(&labels)?
            .encode_counter::<NoLabelSet, _, u64>(&v, None)?;
    }
    Ok(())
}

/// A gauge family: one sample per label set.
pub(crate) fn gauges<L: EncodeLabelSet, V: EncodeGaugeValue>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (L, V)>,
) -> Encoded {
    let mut m = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, v) in rows {
        m.encode_family(&labels)?.encode_gauge(&v)?;
    }
    Ok(())
}

/// A histogram in seconds with its buckets, `_sum` and `_count`.
pub(crate) fn histogram(e: &mut DescriptorEncoder, name: &str, help: &str, b: &Buckets) -> Encoded {
    e.encode_descriptor(name, help, None, MetricType::Histogram)?
        .encode_histogram::<NoLabelSet>(b.sum_seconds, b.count, &b.buckets, None)
}

/// The Prometheus text exposition of `registry` (empty if encoding fails,
/// which writing to a `String` does not).
#[must_use]
pub fn render(registry: &Registry) -> String {
    let mut out = String::with_capacity(16 * 1024);
    if prometheus_client::encoding::prometheus_text::encode(&mut out, registry).is_err() {
        out.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::collector::Collector;

    #[derive(Debug)]
    struct Sample;

    impl Collector for Sample {
        fn encode(&self, mut e: DescriptorEncoder) -> Encoded {
            counter(&mut e, "t_things_total", "Things.", 3)?;
            gauge(&mut e, "t_level", "A level.", -2i64)?;
            counters(
                &mut e,
                "t_by_total",
                "By kind.",
                [([("kind", "a\"b")], 1), ([("kind", "c")], 2)],
            )?;
            gauges(&mut e, "t_age_seconds", "Ages.", [([("feed", "tcp")], 1.5)])?;
            let h = kupala_engine::histogram::LatencyHistogram::default();
            h.record_all_ns(&[5_000, 30_000, 20_000_000_000]);
            histogram(&mut e, "t_latency_seconds", "Latency.", &h.read())
        }
    }

    #[test]
    fn families_render_as_prometheus_text() {
        let mut r = Registry::default();
        r.register_collector(Box::new(Sample));
        let text = render(&r);
        for line in [
            "# HELP t_things_total Things.",
            "# TYPE t_things_total counter",
            "t_things_total 3",
            "# TYPE t_level gauge",
            "t_level -2",
            "t_by_total{kind=\"a\\\"b\"} 1",
            "t_by_total{kind=\"c\"} 2",
            "t_age_seconds{feed=\"tcp\"} 1.5",
            "# TYPE t_latency_seconds histogram",
            "t_latency_seconds_bucket{le=\"1e-05\"} 1",
            "t_latency_seconds_bucket{le=\"5e-05\"} 2",
            "t_latency_seconds_bucket{le=\"10\"} 2",
            "t_latency_seconds_bucket{le=\"+Inf\"} 3",
            "t_latency_seconds_count 3",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} missing in:\n{text}");
        }
        assert!(text.contains("t_latency_seconds_sum 20.000035"), "{text}");
        assert_eq!(text.matches("le=\"+Inf\"").count(), 1, "{text}");
    }
}
