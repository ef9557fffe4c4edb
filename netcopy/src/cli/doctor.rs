//! `netcopy doctor`: what this kernel and process allow, and for each hook the methods a
//! trace would try and the one it would use, found by trying them (nothing is kept).

use std::process::ExitCode;

use clap::Args;

use super::error::Error;
use crate::{
    probes::{
        Probes,
        attach::{self, Intent, Wanted},
        counters,
        features::Features,
    },
    report,
};

#[derive(Args, Clone)]
pub struct DoctorArgs {
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn execute(args: DoctorArgs) -> Result<ExitCode, Error> {
    let features = Features::detect();
    let wanted = Wanted {
        counters: counters::wanted(),
        sample_hz: None,
    };
    let hooks = match Probes::load(None, &Default::default()) {
        Ok(mut p) => p.attach(Intent::Doctor, &wanted)?.hooks,
        Err(e) => {
            let why = if features.missing_caps.is_empty() {
                e.to_string()
            } else {
                format!("cannot try without {}", features.missing_caps.join(" and "))
            };
            attach::untried(&why)
        }
    };
    if args.json {
        let v = serde_json::json!({ "features": features, "plan": hooks });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", report::doctor::render(&features, &hooks));
    }
    Ok(ExitCode::SUCCESS)
}
