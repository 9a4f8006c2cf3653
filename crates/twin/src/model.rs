//! A device's model: the parsed DTDL closure of the interface a device announced, indexed for
//! the lookups the hub makes on every message — properties, commands, telemetry and components
//! by (component, name), contents inherited through `extends` included.
//!
//! The default component is `None`; a named component is the name of one of the root
//! interface's Component contents, whose schema interface holds its contents (IoT Plug and Play
//! allows one level of components).

use std::collections::HashMap;

use dtdl::{ElementRef, Model, ParsingOptions};

/// Why a [`DeviceModel`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Parse(#[from] dtdl::ParseFailure),
    #[error(
        "model {root} is not among the parsed interfaces; resolve the device's model id with \
         its dependencies before building its device model"
    )]
    RootNotFound { root: String },
    #[error("{root} is a {class}, not an Interface; a device's model id must name an Interface")]
    RootNotInterface { root: String, class: String },
}

/// A device's model, resolved with its closure and parsed; lookups by component and name.
#[derive(Debug)]
pub struct DeviceModel {
    model: Model,
    root: String,
    root_contents: Contents,
    components: Vec<ComponentEntry>,
}

#[derive(Debug)]
struct ComponentEntry {
    name: String,
    element: String,
    interface: String,
    contents: Contents,
}

/// Content name → element id, for one interface (own and inherited contents).
#[derive(Debug, Default)]
struct Contents(HashMap<String, String>);

impl Contents {
    fn of(interface: ElementRef<'_>) -> Contents {
        Contents(
            interface
                .all_contents()
                .into_iter()
                .filter_map(|c| Some((c.name()?.to_owned(), c.id().to_owned())))
                .collect(),
        )
    }
}

/// One component of the root interface.
#[derive(Clone, Copy, Debug)]
pub struct ComponentDef<'m> {
    pub name: &'m str,
    /// The Component content.
    pub element: ElementRef<'m>,
    /// The component's interface (its schema).
    pub interface: ElementRef<'m>,
}

/// A Property content.
#[derive(Clone, Copy, Debug)]
pub struct PropertyDef<'m> {
    pub component: Option<&'m str>,
    pub name: &'m str,
    pub element: ElementRef<'m>,
    pub writable: bool,
    pub schema: Option<ElementRef<'m>>,
}

/// A Command content.
#[derive(Clone, Copy, Debug)]
pub struct CommandDef<'m> {
    pub component: Option<&'m str>,
    pub name: &'m str,
    pub element: ElementRef<'m>,
    /// The CommandRequest (its `schema` is the request payload's), if the command takes one.
    pub request: Option<ElementRef<'m>>,
    /// The CommandResponse, if the command returns one.
    pub response: Option<ElementRef<'m>>,
}

/// A Telemetry content.
#[derive(Clone, Copy, Debug)]
pub struct TelemetryDef<'m> {
    pub component: Option<&'m str>,
    pub name: &'m str,
    pub element: ElementRef<'m>,
    pub schema: Option<ElementRef<'m>>,
    /// The unit element (`dtmi:standard:unit:degreeCelsius;…`), if the telemetry has one.
    pub unit: Option<ElementRef<'m>>,
    /// Semantic types and other co-types, as DTMIs (`dtmi:standard:class:Temperature;…`).
    pub semantic_types: &'m [String],
}

impl<'m> TelemetryDef<'m> {
    /// The unit's short name, e.g. `degreeCelsius`.
    pub fn unit_name(&self) -> Option<&'m str> {
        self.unit.map(|u| short_name(u.id()))
    }

    /// The semantic types' short names, e.g. `Temperature`.
    pub fn semantic_type_names(&self) -> Vec<&'m str> {
        self.semantic_types.iter().map(|t| short_name(t)).collect()
    }
}

/// `dtmi:standard:unit:degreeCelsius;2` → `degreeCelsius`.
fn short_name(id: &str) -> &str {
    let last = id.rsplit(':').next().unwrap_or(id);
    last.split(';').next().unwrap_or(last)
}

impl DeviceModel {
    /// Indexes a parsed model (which must contain the root interface's whole closure) for the
    /// device whose model id is `root`.
    pub fn new(model: Model, root: &str) -> Result<DeviceModel, ModelError> {
        let root_interface = model
            .element(root)
            .ok_or_else(|| ModelError::RootNotFound {
                root: root.to_owned(),
            })?;
        if root_interface.class() != "Interface" {
            return Err(ModelError::RootNotInterface {
                root: root.to_owned(),
                class: root_interface.class().to_owned(),
            });
        }
        let root_contents = Contents::of(root_interface);
        let components = root_interface
            .components()
            .into_iter()
            .filter_map(|c| {
                let interface = c.schema()?;
                Some(ComponentEntry {
                    name: c.name()?.to_owned(),
                    element: c.id().to_owned(),
                    interface: interface.id().to_owned(),
                    contents: Contents::of(interface),
                })
            })
            .collect();
        Ok(DeviceModel {
            root: root_interface.id().to_owned(),
            root_contents,
            components,
            model,
        })
    }

    /// Parses `documents` (the root interface and everything it references) with the default
    /// options and indexes them for `root`.
    pub fn from_documents(documents: &[&str], root: &str) -> Result<DeviceModel, ModelError> {
        let model = dtdl::parse(documents, None, &ParsingOptions::default())?;
        DeviceModel::new(model, root)
    }

    /// The root interface's DTMI (the device's model id).
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The parsed model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The root interface.
    pub fn root_interface(&self) -> ElementRef<'_> {
        self.element(&self.root)
    }

    /// The interface of a component (`None`: the root interface).
    pub fn interface(&self, component: Option<&str>) -> Option<ElementRef<'_>> {
        match component {
            None => Some(self.root_interface()),
            Some(name) => self.entry(name).map(|c| self.element(&c.interface)),
        }
    }

    /// The root interface's components, in model order.
    pub fn components(&self) -> Vec<ComponentDef<'_>> {
        self.components
            .iter()
            .map(|c| self.component_def(c))
            .collect()
    }

    /// A component by name.
    pub fn component(&self, name: &str) -> Option<ComponentDef<'_>> {
        self.entry(name).map(|c| self.component_def(c))
    }

    /// Names of the contents of one class in a component, sorted (for messages).
    pub fn content_names(&self, component: Option<&str>, class: &str) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .contents(component)
            .map(|c| {
                c.0.iter()
                    .filter(|(_, id)| self.element(id).class() == class)
                    .map(|(name, _)| name.as_str())
                    .collect()
            })
            .unwrap_or_default();
        names.sort_unstable();
        names
    }

    /// A Property of a component.
    pub fn property(&self, component: Option<&str>, name: &str) -> Option<PropertyDef<'_>> {
        let (component, element) = self.content(component, name, "Property")?;
        Some(PropertyDef {
            component,
            name: element.name()?,
            element,
            writable: element.writable(),
            schema: element.schema(),
        })
    }

    /// The Properties of a component, in model order.
    pub fn properties(&self, component: Option<&str>) -> Vec<PropertyDef<'_>> {
        self.names_in_order(component, |iface| iface.twin_properties())
            .into_iter()
            .filter_map(|name| self.property(component, name))
            .collect()
    }

    /// A Command of a component.
    pub fn command(&self, component: Option<&str>, name: &str) -> Option<CommandDef<'_>> {
        let (component, element) = self.content(component, name, "Command")?;
        Some(CommandDef {
            component,
            name: element.name()?,
            element,
            request: element.request(),
            response: element.response(),
        })
    }

    /// A Telemetry of a component.
    pub fn telemetry(&self, component: Option<&str>, name: &str) -> Option<TelemetryDef<'_>> {
        let (component, element) = self.content(component, name, "Telemetry")?;
        Some(TelemetryDef {
            component,
            name: element.name()?,
            element,
            schema: element.schema(),
            unit: element.unit(),
            semantic_types: element.supplemental_types(),
        })
    }

    /// The Telemetry of a component, in model order.
    pub fn telemetries(&self, component: Option<&str>) -> Vec<TelemetryDef<'_>> {
        self.names_in_order(component, |iface| iface.telemetries())
            .into_iter()
            .filter_map(|name| self.telemetry(component, name))
            .collect()
    }

    fn names_in_order<'s>(
        &'s self,
        component: Option<&str>,
        of: impl Fn(ElementRef<'s>) -> Vec<ElementRef<'s>>,
    ) -> Vec<&'s str> {
        self.interface(component)
            .map(|iface| of(iface).into_iter().filter_map(|c| c.name()).collect())
            .unwrap_or_default()
    }

    fn content(
        &self,
        component: Option<&str>,
        name: &str,
        class: &str,
    ) -> Option<(Option<&str>, ElementRef<'_>)> {
        let (component, contents) = match component {
            None => (None, &self.root_contents),
            Some(c) => {
                let entry = self.entry(c)?;
                (Some(entry.name.as_str()), &entry.contents)
            }
        };
        let element = self.element(contents.0.get(name)?);
        (element.class() == class).then_some((component, element))
    }

    fn contents(&self, component: Option<&str>) -> Option<&Contents> {
        match component {
            None => Some(&self.root_contents),
            Some(c) => self.entry(c).map(|e| &e.contents),
        }
    }

    fn entry(&self, name: &str) -> Option<&ComponentEntry> {
        self.components.iter().find(|c| c.name == name)
    }

    fn component_def<'s>(&'s self, c: &'s ComponentEntry) -> ComponentDef<'s> {
        ComponentDef {
            name: &c.name,
            element: self.element(&c.element),
            interface: self.element(&c.interface),
        }
    }

    /// Ids in the index come from this model, so the lookup cannot miss; a miss would mean the
    /// index and the model disagree, which `new` rules out.
    fn element(&self, id: &str) -> ElementRef<'_> {
        match self.model.element(id) {
            Some(e) => e,
            None => unreachable!("indexed element {id} is missing from its own model"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared_across_tasks<T: Send + Sync>() {}

    #[test]
    fn device_models_can_be_shared_between_connections() {
        // The hub keeps one Arc<DeviceModel> per model id for all its connections.
        shared_across_tasks::<DeviceModel>();
    }

    #[test]
    fn short_names_drop_the_path_and_version() {
        assert_eq!(
            short_name("dtmi:standard:unit:degreeCelsius;2"),
            "degreeCelsius"
        );
        assert_eq!(short_name("plain"), "plain");
    }
}
