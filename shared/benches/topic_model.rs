//! Lisa's topic model: decoding the embedded model (what a cold start pays) and understanding
//! one message (what every inbound message pays). Figures in docs/performance.md.

use criterion::{Criterion, criterion_group, criterion_main};
use servicekanal_shared::lisa::catalogue::TOPIC_IDS;
use servicekanal_shared::lisa::evaluate::{EMBEDDED_TEST_SET, read_labelled};
use servicekanal_shared::lisa::model::TopicModel;
use std::hint::black_box;

fn topic_model(c: &mut Criterion) {
    c.bench_function("decode the embedded model (cold start)", |b| {
        b.iter(|| black_box(TopicModel::embedded()))
    });
    let model = TopicModel::embedded();
    let messages: Vec<String> = read_labelled(EMBEDDED_TEST_SET, &TOPIC_IDS)
        .expect("the test set reads")
        .into_iter()
        .map(|(_, text)| text)
        .collect();
    // The whole test set per iteration: short and long messages in their real mix.
    c.bench_function(
        &format!("understand the {} test-set messages", messages.len()),
        |b| {
            b.iter(|| {
                for message in &messages {
                    black_box(model.understand(black_box(message)));
                }
            })
        },
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = topic_model
}
criterion_main!(benches);
