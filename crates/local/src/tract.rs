//! The pure-Rust engine: `tract-onnx` (feature `tract`). Kept behind [`Engine`] so the analysers
//! can switch to it; it does not meet the speed bar today (see the crate README).
//!
//! tract optimises a graph for one input shape, so each model keeps a small cache of plans keyed
//! by input shape (the text models see a new shape per image size or line batch).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tract_onnx::prelude::*;

use crate::engine::{Engine, EngineError, Model, Tensor};

type Plan = Arc<TypedRunnableModel>;

/// How many input shapes a model keeps an optimised plan for.
const PLANS_KEPT: usize = 8;

/// tract-onnx, single-threaded per model.
#[derive(Debug, Default)]
pub struct TractEngine;

impl Engine for TractEngine {
    fn name(&self) -> String {
        "tract-onnx 0.23".into()
    }

    fn load(&self, path: &Path) -> Result<Box<dyn Model>, EngineError> {
        let fail = |e: TractError| {
            EngineError::new(format!("tract could not load {}: {e:#}", path.display()))
        };
        // NudeNet's graph carries value infos tract disagrees with; the shapes are inferred anyway.
        let model = tract_onnx::onnx()
            .with_ignore_value_info(true)
            .model_for_path(path)
            .map_err(fail)?;
        Ok(Box::new(TractModel {
            model,
            plans: Mutex::new(HashMap::new()),
        }))
    }

    fn load_bytes(&self, origin: &Path, bytes: &[u8]) -> Result<Box<dyn Model>, EngineError> {
        let model = tract_onnx::onnx()
            .with_ignore_value_info(true)
            .model_for_read(&mut std::io::Cursor::new(bytes))
            .map_err(|e| {
                EngineError::new(format!("tract could not load {}: {e:#}", origin.display()))
            })?;
        Ok(Box::new(TractModel {
            model,
            plans: Mutex::new(HashMap::new()),
        }))
    }
}

struct TractModel {
    model: InferenceModel,
    plans: Mutex<HashMap<Vec<usize>, Plan>>,
}

impl TractModel {
    fn plan(&self, shape: &[usize]) -> Result<Plan, EngineError> {
        let mut plans = self
            .plans
            .lock()
            .map_err(|_| EngineError::new("a previous tract optimisation panicked"))?;
        if let Some(plan) = plans.get(shape) {
            return Ok(plan.clone());
        }
        let plan = self
            .model
            .clone()
            .with_input_fact(0, f32::fact(shape).into())
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| EngineError::new(format!("tract could not plan {shape:?}: {e:#}")))?;
        if plans.len() >= PLANS_KEPT {
            plans.clear();
        }
        plans.insert(shape.to_vec(), plan.clone());
        Ok(plan)
    }
}

impl Model for TractModel {
    fn run(&self, input: Tensor) -> Result<Vec<Tensor>, EngineError> {
        let plan = self.plan(&input.shape)?;
        let fail = |e: TractError| EngineError::new(format!("tract inference failed: {e:#}"));
        let value =
            tract_onnx::prelude::Tensor::from_shape(&input.shape, &input.data).map_err(fail)?;
        let outputs = plan.run(tvec!(value.into())).map_err(fail)?;
        outputs
            .iter()
            .map(|o| {
                let view = o.to_plain_array_view::<f32>().map_err(fail)?;
                Ok(Tensor {
                    shape: view.shape().to_vec(),
                    data: view.iter().copied().collect(),
                })
            })
            .collect()
    }

    fn metadata(&self, key: &str) -> Result<Option<String>, EngineError> {
        let Some(value) = self
            .model
            .properties
            .get(&format!("onnx.metadata_props.{key}"))
        else {
            return Ok(None);
        };
        let text = value
            .try_as_plain_ram()
            .and_then(|plain| plain.to_scalar::<String>().cloned())
            .map_err(|e| EngineError::new(format!("metadata {key}: {e:#}")))?;
        Ok(Some(text))
    }
}
