//! Which channels serve a model for a client key: the permission rules of `api_keys[].model`
//! applied to every provider's model list (configured or discovered).

use std::collections::{HashMap, HashSet};

use crate::config::{Config, ModelMapping, ModelSource, RuleTarget};

/// One way to serve the requested model: a provider and the id its upstream knows it by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Index into `Config::providers`.
    pub provider: usize,
    pub upstream: String,
    /// From a weighted rule such as `gcp1/*: 5`.
    pub weight: Option<u32>,
}

/// The models every provider serves, with alias lookup.
#[derive(Debug, Default)]
pub struct Catalog {
    providers: Vec<ProviderModels>,
}

#[derive(Debug, Default)]
struct ProviderModels {
    mappings: Vec<ModelMapping>,
    by_alias: HashMap<String, usize>,
}

/// Why no candidate was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteError {
    /// No provider serves the model.
    UnknownModel,
    /// Some provider serves it, but this key's rules do not allow it.
    Forbidden,
}

impl Catalog {
    /// `discovered[i]` holds the ids found at provider `i`'s `/models` (for providers without `model:`).
    pub fn new(config: &Config, discovered: &HashMap<usize, Vec<String>>) -> Self {
        let providers = config
            .providers
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mappings = match &p.models {
                    ModelSource::Listed(list) => list.clone(),
                    ModelSource::Discover => discovered
                        .get(&i)
                        .map(|ids| {
                            ids.iter().map(|id| ModelMapping { upstream: id.clone(), alias: id.clone() }).collect()
                        })
                        .unwrap_or_default(),
                };
                let mut by_alias = HashMap::with_capacity(mappings.len());
                for (m, mapping) in mappings.iter().enumerate() {
                    by_alias.entry(mapping.alias.clone()).or_insert(m);
                }
                ProviderModels { mappings, by_alias }
            })
            .collect();
        Self { providers }
    }

    /// The upstream id under which `provider` serves `alias`.
    pub fn upstream(&self, provider: usize, alias: &str) -> Option<&str> {
        let models = self.providers.get(provider)?;
        models.by_alias.get(alias).map(|&m| models.mappings[m].upstream.as_str())
    }

    fn offered_anywhere(&self, alias: &str) -> bool {
        self.providers.iter().any(|p| p.by_alias.contains_key(alias))
    }

    /// The candidates for `model` under client `client`'s rules, in rule order, without duplicates.
    pub fn resolve(&self, config: &Config, client: usize, model: &str) -> Result<Vec<Candidate>, RouteError> {
        let mut out = Vec::new();
        let mut visiting = HashSet::new();
        self.resolve_into(config, client, model, None, &mut visiting, &mut out);
        if !out.is_empty() {
            Ok(out)
        } else if self.offered_anywhere(model) {
            Err(RouteError::Forbidden)
        } else {
            Err(RouteError::UnknownModel)
        }
    }

    fn resolve_into(
        &self,
        config: &Config,
        client: usize,
        model: &str,
        inherited_weight: Option<u32>,
        visiting: &mut HashSet<usize>,
        out: &mut Vec<Candidate>,
    ) {
        // A key used as a channel by a key it uses as a channel would loop; the inner use adds nothing.
        if !visiting.insert(client) {
            return;
        }
        for rule in &config.clients[client].rules {
            let weight = rule.weight.or(inherited_weight);
            match &rule.target {
                RuleTarget::All => self.push_every_provider(config, model, weight, out),
                RuleTarget::Model(m) | RuleTarget::Literal(m) if m == model => {
                    self.push_every_provider(config, model, weight, out)
                }
                RuleTarget::Model(_) | RuleTarget::Literal(_) => {}
                RuleTarget::ProviderAll(name) => self.push_named(config, name, model, weight, out),
                RuleTarget::ProviderModel(name, m) if m == model => self.push_named(config, name, model, weight, out),
                RuleTarget::ProviderModel(..) => {}
                RuleTarget::ClientAll(other) => self.resolve_into(config, *other, model, weight, visiting, out),
                RuleTarget::ClientModel(other, m) if m == model => {
                    self.resolve_into(config, *other, model, weight, visiting, out)
                }
                RuleTarget::ClientModel(..) => {}
            }
        }
        visiting.remove(&client);
    }

    fn push_every_provider(&self, config: &Config, model: &str, weight: Option<u32>, out: &mut Vec<Candidate>) {
        for i in 0..config.providers.len() {
            self.push(i, model, weight, out);
        }
    }

    fn push_named(&self, config: &Config, name: &str, model: &str, weight: Option<u32>, out: &mut Vec<Candidate>) {
        for (i, p) in config.providers.iter().enumerate() {
            if p.name == name {
                self.push(i, model, weight, out);
            }
        }
    }

    fn push(&self, provider: usize, model: &str, weight: Option<u32>, out: &mut Vec<Candidate>) {
        let Some(upstream) = self.upstream(provider, model) else { return };
        if out.iter().any(|c| c.provider == provider && c.upstream == upstream) {
            return;
        }
        out.push(Candidate { provider, upstream: upstream.to_owned(), weight });
    }

    /// Every model id client `client` may request, deduplicated, in rule order.
    pub fn models_for(&self, config: &Config, client: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut visiting = HashSet::new();
        self.models_into(config, client, &mut visiting, &mut seen, &mut out);
        out
    }

    fn models_into(
        &self,
        config: &Config,
        client: usize,
        visiting: &mut HashSet<usize>,
        seen: &mut HashSet<String>,
        out: &mut Vec<String>,
    ) {
        if !visiting.insert(client) {
            return;
        }
        let mut add = |alias: &str, out: &mut Vec<String>| {
            if seen.insert(alias.to_owned()) {
                out.push(alias.to_owned());
            }
        };
        for rule in &config.clients[client].rules {
            match &rule.target {
                RuleTarget::All => {
                    for p in &self.providers {
                        p.mappings.iter().for_each(|m| add(&m.alias, out));
                    }
                }
                RuleTarget::Model(m) | RuleTarget::Literal(m) => {
                    if self.offered_anywhere(m) {
                        add(m, out)
                    }
                }
                RuleTarget::ProviderAll(name) => {
                    for (i, p) in config.providers.iter().enumerate() {
                        if p.name == *name {
                            self.providers[i].mappings.iter().for_each(|m| add(&m.alias, out));
                        }
                    }
                }
                RuleTarget::ProviderModel(name, m) => {
                    let offered = config
                        .providers
                        .iter()
                        .enumerate()
                        .any(|(i, p)| p.name == *name && self.providers[i].by_alias.contains_key(m));
                    if offered {
                        add(m, out)
                    }
                }
                RuleTarget::ClientAll(other) => {
                    let mut inner = Vec::new();
                    let mut inner_seen = HashSet::new();
                    self.models_into(config, *other, visiting, &mut inner_seen, &mut inner);
                    inner.iter().for_each(|m| add(m, out));
                }
                RuleTarget::ClientModel(other, m) => {
                    if self.resolve(config, *other, m).is_ok() {
                        add(m, out)
                    }
                }
            }
        }
        visiting.remove(&client);
    }
}
