//! voice-intake's ports for the Connect and Lex targets.

use crate::common::{Recycled, World};
use servicekanal_shared::domain::callback::CallbackCatalogue;
use servicekanal_shared::ports::queue::memory::InProcessQueue;
use std::sync::Arc;
use voice_intake::Ports;

pub struct Voice {
    pub world: World,
    pub ports: Ports,
}

pub static VOICE: Recycled<Voice> = Recycled::new(|| {
    let world = World::new();
    let clock = Arc::new(world.clock.clone());
    let ports = Ports {
        store: world.store.clone(),
        sales_queue: Arc::new(InProcessQueue::new(
            "servicekanal-sales-callbacks.fifo",
            clock.clone(),
        )),
        clock,
        catalogue: CallbackCatalogue::embedded(),
        pseudonymizer: world.pseudonymizer.clone(),
    };
    Voice { world, ports }
});

impl Voice {
    pub fn handle(
        &self,
        event: serde_json::Value,
    ) -> Result<serde_json::Value, voice_intake::VoiceError> {
        self.world
            .runtime
            .block_on(voice_intake::handle(event, &self.ports))
    }
}
