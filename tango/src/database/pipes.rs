//! Pipe properties of devices and classes (`Db{Get,Put,Delete}{Device,Class}PipeProperty`,
//! `DbDelete{Device,Class}Pipe`, `DbDeleteAllDevicePipeProperty`, the pipe listings and the
//! history): the attribute-property helpers over the pipe tables.

use super::args::*;
use super::prop_table::{CLASS_PIPE, DEVICE_PIPE};
use super::store::*;

impl Store {
    /// `DbGetDevicePipeProperty [device, pipes...]`.
    pub fn get_device_pipe_property(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 1, "device name", "GetDevicePipeProperty()")?;
        self.get_sub_props(&DEVICE_PIPE, argin, Layout::Counted)
    }

    /// `DbGetClassPipeProperty [class, pipes...]`.
    pub fn get_class_pipe_property(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 1, "class name", "GetClassPipeProperty()")?;
        self.get_sub_props(&CLASS_PIPE, argin, Layout::Counted)
    }

    /// `DbPutDevicePipeProperty [device, n_pipes, (pipe, n_props, (prop, n_values, values...)*)*]`.
    pub fn put_device_pipe_property(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "PutDevicePipeProperty()";
        need_args(argin, 2, "device name, pipe count", O)?;
        check_device_name(&argin[0], O)?;
        let list = parse_attr_put_list(argin, 1, O, Layout::Counted)?;
        self.put_sub_props(&DEVICE_PIPE, &argin[0], list)
    }

    /// `DbPutClassPipeProperty [class, n_pipes, ...]`.
    pub fn put_class_pipe_property(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "PutClassPipeProperty()";
        need_args(argin, 2, "class name, pipe count", O)?;
        check_class_name(&argin[0], O)?;
        let list = parse_attr_put_list(argin, 1, O, Layout::Counted)?;
        self.put_sub_props(&CLASS_PIPE, &argin[0], list)
    }

    /// `DbDeleteDevicePipeProperty [device, pipe, props...]`.
    pub fn delete_device_pipe_property(&mut self, argin: &[String]) -> R<()> {
        need_args(argin, 2, "device name, pipe name", "DeleteDevicePipeProperty()")?;
        self.delete_sub_props(&DEVICE_PIPE, argin)
    }

    /// `DbDeleteClassPipeProperty [class, pipe, props...]`.
    pub fn delete_class_pipe_property(&mut self, argin: &[String]) -> R<()> {
        need_args(argin, 2, "class name, pipe name", "DeleteClassPipeProperty()")?;
        self.delete_sub_props(&CLASS_PIPE, argin)
    }

    /// `DbDeleteDevicePipe [device, pipe]`.
    pub fn delete_device_pipe(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "DeleteDevicePipe()";
        need_args(argin, 2, "device name, pipe name", O)?;
        self.delete_subs(&DEVICE_PIPE, &argin[..2], O)
    }

    /// `DbDeleteClassPipe [class, pipe]`.
    pub fn delete_class_pipe(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "DeleteClassPipe()";
        need_args(argin, 2, "class name, pipe name", O)?;
        self.delete_subs(&CLASS_PIPE, &argin[..2], O)
    }

    /// `DbDeleteAllDevicePipeProperty [device, pipes...]`.
    pub fn delete_all_device_pipe_property(&mut self, argin: &[String]) -> R<()> {
        self.delete_subs(&DEVICE_PIPE, argin, "DeleteAllDevicePipeProperty()")
    }

    /// `DbGetDevicePipeList [device, pattern]`: pipes with properties.
    pub fn device_pipe_list(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 2, "device name, wildcard", "GetDevicePipeList()")?;
        DEVICE_PIPE.subs(&self.conn, &argin[0], &argin[1])
    }

    /// `DbGetClassPipeList [class, pattern]`.
    pub fn class_pipe_list(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 2, "class name, wildcard", "GetClassPipeList()")?;
        CLASS_PIPE.subs(&self.conn, &argin[0], &argin[1])
    }

    /// `DbGetDevicePipePropertyHist [device, pipe pattern, prop pattern]`.
    pub fn device_pipe_property_hist(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 3, "device name, pipe name, property name (wildcards allowed)", "GetDevicePipePropertyHist()")?;
        DEVICE_PIPE.history(&self.conn, &argin[0], Some(&argin[1]), &argin[2])
    }

    /// `DbGetClassPipePropertyHist [class, pipe pattern, prop pattern]`.
    pub fn class_pipe_property_hist(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 3, "class name, pipe name, property name (wildcards allowed)", "GetClassPipePropertyHist()")?;
        CLASS_PIPE.history(&self.conn, &argin[0], Some(&argin[1]), &argin[2])
    }
}
